"""What is verified is exactly what runs: archives checked from their bytes, unpacked by us, checked again
unpacked, and only then handed to an engine as a directory.

TorchServe serves unpacked model directories as well as ``.mar`` files, so ``serve.sh``, the container's
entrypoint, ``TorchServeProcess`` and ``kserve_layout`` give it a store of directories this module wrote,
and the KServe runtime loads from the same directories: no engine ever parses a zip this project did not
check. Per archive, in order, refused at the first failure with the reason (``MarFileError``, exit 2):

1. one open file, read once: the zip's local headers and central directory agree (``zip_layout``: no
   hidden, duplicate or overlapping entry, nothing before, between or after the members), every member has
   a plain path and the hash ``manifest.json`` lists, nothing is added or missing, the MAR manifest is as
   built and the identity recomputes (``verify``);
2. unpacked from that same open file into a staging directory beside the target;
3. the staged files checked again against the manifest (hashes, nothing unlisted, no link): the check a
   worker makes, here before any engine starts;
4. under a trust policy, the signature over the staged files and any identity the policy pins (``signing``);
   with a pin file (``pins``), the identity its model is pinned to, unless a trusted key signed it;
5. the staging directory renamed to the target, replacing what an earlier start left there.

No code from an archive is imported by any of this.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import ArchiveError
from ..core.manifest import MAR_MANIFEST, load_manifest, verify_files, verify_tree
from ..errors import MarkitError, UsageError, report
from .mar_file import MarFileError
from .pins import Pins
from .signing import TrustPolicy, check_trust
from .verify import verify_zip

__all__ = ["Unpacked", "main", "unpack_store", "unpack_verified"]

STAGING_PREFIX = ".unpacking-"


@dataclass(frozen=True)
class Unpacked:
    """One archive that passed every check, unpacked at ``directory``."""

    mar: Path
    directory: Path
    model: str
    identity: str
    trusted: str  # what the trust policy and the pins said, e.g. "signed", "pinned", "signed, unpinned" or ""


def unpack_verified(mar: Path, target: Path, policy: TrustPolicy | None = None, pins: Pins | None = None) -> Unpacked:
    """Check ``mar`` and unpack it at ``target`` (replaced if present); ``MarFileError`` naming the first failure."""
    mar, target = Path(mar), Path(target)
    staging = target.parent / f"{STAGING_PREFIX}{target.name}"
    _remove(staging)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        identity = _verify_and_extract(mar, staging)
        _check_unpacked(staging, mar.name)
        model = json.loads((staging / MAR_MANIFEST).read_text(encoding="utf-8"))["model"]["modelName"]
        said = [check_trust(staging, identity, policy, mar.name)] if policy is not None else []
        if pins is not None:
            said.append(pins.check(mar.name, model, identity, signed="signed" in said[0] if said else False))
        _remove(target)
        staging.rename(target)
    finally:
        _remove(staging)
    return Unpacked(mar=mar, directory=target, model=model, identity=identity, trusted=", ".join(filter(None, said)))


def _verify_and_extract(mar: Path, staging: Path) -> str:
    try:
        with mar.open("rb") as handle:
            identity = verify_zip(handle, mar.name)
            with zipfile.ZipFile(handle) as archive:
                archive.extractall(staging)
    except OSError as err:
        raise MarFileError(f"{mar.name}: cannot be read or unpacked: {err.strerror or err}") from err
    return identity


def _check_unpacked(directory: Path, label: str) -> None:
    try:
        manifest = load_manifest(directory)
        verify_files(directory, manifest)
        verify_tree(directory, manifest)
    except ArchiveError as err:
        raise MarFileError(f"{label}: unpacked, {err}") from err


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def unpack_store(store: Path, served: Path, policy: TrustPolicy | None = None, pins: Pins | None = None) -> list[Unpacked]:
    """Every ``*.mar`` in ``store`` unpacked into a directory of the same name, ``served/NAME.mar/`` (TorchServe
    serves a directory under every name it serves a ``.mar`` by: ``load_models``, ``model_snapshot``'s ``marName``,
    a registration's url); ``served`` then holds nothing else. All are checked before ``served`` changes: one
    refused archive changes nothing."""
    store, served = Path(store), Path(served)
    archives = sorted(store.glob("*.mar"))
    served.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=served.parent))
    try:
        staged = [unpack_verified(mar, staging / mar.name, policy, pins) for mar in archives]
    except BaseException:
        _remove(staging)
        raise
    _remove(served)
    staging.rename(served)
    return [dataclasses.replace(item, directory=served / item.directory.name) for item in staged]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.archive.unpack", description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="the model store (its *.mar)")
    parser.add_argument("--into", type=Path, required=True, help="the directory the engine serves (replaced whole)")
    parser.add_argument("--trust", type=Path, metavar="POLICY", help="a trust policy (config/trust.yaml): signing keys, pinned identities")
    parser.add_argument("--pins", type=Path, metavar="FILE", help="serve only archives pinned in this file (config/pins.json; "
                        "markit.archive.pins) or signed by a key the trust policy names")
    args = parser.parse_args(argv)
    try:
        if not args.store.is_dir():
            raise UsageError(f"model store {args.store} is not a directory")
        policy = TrustPolicy.load(args.trust) if args.trust else None
        unpacked = unpack_store(args.store, args.into, policy, Pins.load(args.pins, must_exist=True) if args.pins else None)
    except MarkitError as err:
        return report("unpack", err)
    for item in unpacked:
        print(f"{item.mar.name}: {item.identity}" + (f" ({item.trusted})" if item.trusted else "") + f" -> {item.directory}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
