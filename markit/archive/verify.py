"""Checking ``.mar`` files from their bytes: ``python -m markit.archive.verify STORE_OR_MAR... [--trust POLICY]``.

TorchServe reads ``MAR-INF/MANIFEST.json`` to choose the handler it imports, so an archive whose MAR
manifest points at an added file runs that file, and the archive's own checks never run. So no engine is
handed a ``.mar``: ``markit.archive.unpack`` checks each here, from the zip, unpacks it itself and serves the
directory. The checks, refused at the first failure naming the entry:

- the zip's local headers and central directory are one and the same list (``markit.archive.zip_layout``):
  a reader walking local headers, as TorchServe's Java does, sees exactly what this module checks;
- every member has a plain relative path (no absolute path, no ``..``, no symlink, no directory tricks)
  and is either listed in ``manifest.json``'s ``files`` with the sha256 its bytes have, or is
  ``manifest.json`` or ``MAR-INF/MANIFEST.json``; nothing listed is missing;
- ``MAR-INF/MANIFEST.json`` holds only what the builder writes, and its ``handler`` and ``configFile``
  are listed files (the handler being the archive's entry module);
- the identity recomputed from the manifest's content is the one it states (``markit.core.manifest``);
- the command also unpacks each archive as ``markit.archive.unpack`` does and, with ``--trust POLICY``
  (``config/trust.yaml``; ``markit.archive.signing``), checks that the unpacked files are signed by a trusted
  key and that the identity is the one the policy pins for its model, if any.

A manifest edited consistently (a label changed, its hash and identity recomputed) passes the checks
without a policy: only a signature or a pinned identity (``markit.archive.pins``) can refuse it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import stat
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from ..core.manifest import MANIFEST_NAME, SIGNATURE_NAME, identity_of
from ..errors import MarkitError, report
from .mar_file import MarFileError
from .signing import TrustPolicy
from .zip_layout import check_layout

__all__ = ["MAR_MANIFEST", "main", "verify_mar", "verify_zip"]

MAR_MANIFEST = "MAR-INF/MANIFEST.json"
ENTRY_PREFIX = "archive_entry_"
MAR_KEYS = frozenset({"createdOn", "runtime", "model", "archiverVersion"})
MAR_MODEL_KEYS = frozenset({"modelName", "modelVersion", "handler", "configFile"})


def verify_mar(path: Path) -> str:
    """The archive's identity when every check passes; ``MarFileError`` naming the first entry that fails."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return verify_zip(handle, path.name)
    except OSError as err:
        raise MarFileError(f"{path.name}: cannot be read: {err.strerror or err}") from err


def verify_zip(handle: BinaryIO, label: str) -> str:
    """``verify_mar`` of the zip open in ``handle`` (``label`` names it in messages): its two readings agree
    (``zip_layout``), then every member is checked from the bytes ``handle`` holds."""
    check_layout(handle, label)
    try:
        with zipfile.ZipFile(handle) as archive:
            members = archive.infolist()
            for member in members:
                _check_member(member, label)
            names = {member.filename for member in members if not member.is_dir()}
            manifest = json.loads(archive.read(MANIFEST_NAME))
            mar = json.loads(archive.read(MAR_MANIFEST))
            files = manifest["files"]
            for name in sorted(names - {MANIFEST_NAME, MAR_MANIFEST, SIGNATURE_NAME}):
                if name not in files:
                    raise MarFileError(f"{label}: {name!r} is not listed in {MANIFEST_NAME}: an added file, refusing the archive")
                if _sha256(archive, name) != files[name]:
                    raise MarFileError(f"{label}: {name!r} was modified after build (its sha256 is not the one "
                                       f"{MANIFEST_NAME} lists): refusing a tampered archive")
    except MarFileError:
        raise
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError) as err:
        raise MarFileError(f"{label}: not an archive built by build_mar.sh: {type(err).__name__}: {err}") from err
    missing = sorted(set(files) - names)
    if missing:
        raise MarFileError(f"{label}: {missing[0]!r} is listed in {MANIFEST_NAME} but missing: an incomplete archive")
    _check_mar_manifest(label, mar, files)
    actual = identity_of(manifest)
    if actual != manifest.get("identity"):
        raise MarFileError(f"{label}: {MANIFEST_NAME} states identity {manifest.get('identity')!r} but its content is "
                           f"{actual}: the manifest was edited after build, refusing the archive")
    return actual


def _sha256(archive: zipfile.ZipFile, name: str) -> str:
    digest = hashlib.sha256()
    with archive.open(name) as member:
        for chunk in iter(lambda: member.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_member(member: zipfile.ZipInfo, label: str) -> None:
    """A member's kind (its path was checked by ``check_layout``)."""
    if stat.S_ISLNK(member.external_attr >> 16):
        raise MarFileError(f"{label}: entry {member.filename!r} is a symbolic link; archives built by build_mar.sh hold none")


def _check_mar_manifest(archive: str, mar: Any, files: dict[str, str]) -> None:
    if not isinstance(mar, dict) or not isinstance(mar.get("model"), dict):
        raise MarFileError(f"{archive}: {MAR_MANIFEST} is not TorchServe's manifest of an archive built by build_mar.sh")
    extra = sorted(set(mar) - MAR_KEYS) + sorted(f"model.{key}" for key in set(mar["model"]) - MAR_MODEL_KEYS)
    if extra:
        raise MarFileError(f"{archive}: {MAR_MANIFEST} has {extra[0]!r}, which build_mar.sh never writes: refusing the archive")
    handler, config = mar["model"].get("handler"), mar["model"].get("configFile")
    if not (isinstance(handler, str) and handler.startswith(ENTRY_PREFIX) and handler in files):
        raise MarFileError(f"{archive}: {MAR_MANIFEST} names handler {handler!r}, not the archive's own entry module: "
                           "refusing the archive")
    if config not in files:
        raise MarFileError(f"{archive}: {MAR_MANIFEST} names configFile {config!r}, which {MANIFEST_NAME} does not list")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.archive.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", type=Path, nargs="+", help="model stores (their *.mar) or .mar files")
    parser.add_argument("--trust", type=Path, metavar="POLICY", help="a trust policy (config/trust.yaml): signing keys, pinned identities")
    args = parser.parse_args(argv)
    from .unpack import unpack_verified  # it builds on verify_zip

    try:
        policy = TrustPolicy.load(args.trust) if args.trust else None
    except MarkitError as err:
        return report("verify", err)
    archives = [mar for path in args.paths for mar in (sorted(path.glob("*.mar")) if path.is_dir() else [path])]
    refused = 0
    with tempfile.TemporaryDirectory(prefix="markit-verify-") as scratch:
        for archive in archives:
            try:  # as served: unpacked, checked again, the policy applied to the unpacked files
                checked = unpack_verified(archive, Path(scratch) / archive.stem, policy)
                print(f"{archive.name}: {checked.identity}" + (f" ({checked.trusted})" if checked.trusted else ""))
            except MarkitError as err:
                refused += 1
                report("verify", err)
    return 2 if refused else 0

if __name__ == "__main__":
    sys.exit(main())
