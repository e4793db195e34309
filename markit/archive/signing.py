"""Signing archives and checking them against a trust policy, with the OpenSSF ``model-signing`` library.

``build_mar.sh --sign KEY.pem`` signs the finished ``.mar``: every member (``MAR-INF/MANIFEST.json``, the
entry module, ``manifest.json``, weights, everything) is hashed by ``model-signing`` and the signature, a
Sigstore bundle made with the private key (an ECDSA P-256/384/521 PEM; offline, no transparency log), is
added to the archive as ``signature.sigstore.json``.

A trust policy (``config/trust.yaml``, see docs/deployment.md) says which archives a server may serve:

    signed_by: [keys/publisher.pub.pem]   # each archive must be signed by one of these public keys
    identities:                           # optional pins: model name -> the identity it must have
      digits: "sha256:..."

``markit.archive.verify --trust POLICY`` (run by ``serve.sh start`` and the container's entrypoint) refuses
an archive that is unsigned, whose signature does not verify with any trusted key (a member added,
removed or changed after signing, a consistently edited manifest included), or whose identity is not
the pinned one. Relative key paths are taken from the policy file's directory.

``python -m markit.archive.signing keygen PREFIX`` writes a new P-256 key pair, ``PREFIX.pem`` (private, mode
0600: it stays with the publisher) and ``PREFIX.pub.pem`` (the public key a trust policy names).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.manifest import MAR_MANIFEST, SIGNATURE_NAME
from ..errors import MarkitError, UsageError, report
from .mar_file import MarFileError

__all__ = ["SIGNATURE_NAME", "SigningError", "TrustPolicy", "check_signature", "check_trust", "generate_keys", "main", "sign_mar"]


class SigningError(UsageError):
    """The archive cannot be signed as asked (a missing or unusable key)."""

    exit_code = 2


@dataclass(frozen=True)
class TrustPolicy:
    """Public keys an archive must be signed by (none: signatures are not required) and pinned identities."""

    signed_by: tuple[Path, ...] = ()
    identities: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> TrustPolicy:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UsageError(f"trust policy {path}: cannot be read: {err}") from err
        if not isinstance(data, dict) or set(data) - {"signed_by", "identities"}:
            raise UsageError(f"trust policy {path}: expected the keys signed_by and identities, got {data!r}")
        keys = data.get("signed_by") or []
        pins = data.get("identities") or {}
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise UsageError(f"trust policy {path}: signed_by must be a list of public key files (PEM)")
        if not isinstance(pins, dict) or not all(isinstance(v, str) and v.startswith("sha256:") for v in pins.values()):
            raise UsageError(f"trust policy {path}: identities must map model names to 'sha256:...' identities")
        resolved = tuple((path.parent / key).resolve() for key in keys)
        for key in resolved:
            if not key.is_file():
                raise UsageError(f"trust policy {path}: public key {key} not found")
        return cls(resolved, dict(pins))


def sign_mar(mar: Path, private_key: Path) -> None:
    """Sign every member of ``mar`` with ``private_key`` and add the signature to it."""
    from model_signing import hashing, signing

    if not Path(private_key).is_file():
        raise SigningError(f"--sign {private_key}: no such key file; give an ECDSA private key in PEM (docs/deployment.md#signing)")
    with tempfile.TemporaryDirectory(prefix="mar-sign-") as tmp:
        tree = _unpack(mar, Path(tmp) / "members")
        signature = Path(tmp) / SIGNATURE_NAME
        try:
            (signing.Config().use_elliptic_key_signer(private_key=Path(private_key))
             .set_hashing_config(hashing.Config().set_ignored_paths(paths=[SIGNATURE_NAME], ignore_git_paths=False))
             .sign(tree, signature))
        except (ValueError, TypeError, AttributeError) as err:  # what model-signing raises for a key it cannot use
            raise SigningError(f"--sign {private_key}: cannot sign with this key ({err}); use an ECDSA P-256, P-384 or "
                               "P-521 private key in PEM") from err
        with zipfile.ZipFile(mar, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.write(signature, SIGNATURE_NAME)


def check_trust(tree: Path, identity: str, policy: TrustPolicy, label: str | None = None) -> str:
    """What the policy says of an archive unpacked at ``tree`` after passing ``verify_mar`` (``markit.archive.unpack``):
    "signed" or "pinned" or "" when it asks nothing; MarFileError naming why the archive is not trusted. The
    signature is checked over the very files that will be served."""
    tree, label = Path(tree), label or Path(tree).name
    said = []
    if policy.signed_by:
        check_signature(tree, policy.signed_by, label)
        said.append("signed")
    name = _model_name(tree)
    if name in policy.identities:
        if policy.identities[name] != identity:
            raise MarFileError(f"{label}: model {name!r} has identity {identity}, not the {policy.identities[name]} "
                               "the trust policy pins; refusing the archive")
        said.append("pinned")
    return " and ".join(said)


def check_signature(tree: Path, keys: Sequence[Path], label: str) -> None:
    """MarFileError unless ``tree`` holds a signature by one of ``keys`` over every other file in it."""
    from cryptography.exceptions import InvalidSignature
    from model_signing import verifying

    signature = tree / SIGNATURE_NAME
    if not signature.is_file():
        raise MarFileError(f"{label}: not signed ({SIGNATURE_NAME} is missing) but the trust policy requires a "
                           "signature; sign it with build_mar.sh --sign KEY")
    reasons: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mar-verify-", dir=tree.parent) as tmp:
        moved = Path(tmp) / SIGNATURE_NAME
        signature.rename(moved)  # outside the tree: what was signed is every other member
        try:
            for key in keys:
                try:
                    verifying.Config().use_elliptic_key_verifier(public_key=key).verify(tree, moved)
                    return
                except (ValueError, InvalidSignature, OSError) as err:
                    reasons.append(f"{key.name}: {_reason(err)}")
        finally:
            moved.rename(signature)
    raise MarFileError(f"{label}: its signature does not verify with a trusted key ({'; '.join(reasons)}); "
                       "refusing the archive")


def _reason(err: Exception) -> str:
    """model-signing's refusal, with the members it names and without its digests."""
    text = str(err)
    changed = re.findall(r"Hash mismatch for \\?'([^'\\]+)", text)  # the names are quoted, escaped inside a list's repr
    added = re.search(r"Extra files found in model '[^']*': ([^\]\"]+)", text)
    removed = re.search(r"Missing files in model '[^']*': ([^\]\"]+)", text)
    parts = ([f"changed after signing: {', '.join(changed)}"] if changed else []) + \
            ([f"added after signing: {added.group(1).strip()}"] if added else []) + \
            ([f"removed after signing: {removed.group(1).strip()}"] if removed else [])
    if parts:
        return "; ".join(parts)
    return (text or type(err).__name__)[:300]


def _unpack(mar: Path, target: Path) -> Path:
    """Every member of an archive ``verify_mar`` accepted (plain relative paths, no links) under ``target``."""
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(target)
    return target


def _model_name(tree: Path) -> Any:
    return json.loads((tree / MAR_MANIFEST).read_text(encoding="utf-8"))["model"]["modelName"]


def generate_keys(prefix: Path) -> tuple[Path, Path]:
    """A new ECDSA P-256 key pair: ``PREFIX.pem`` (private, 0600, never overwritten) and ``PREFIX.pub.pem``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    private, public = Path(f"{prefix}.pem"), Path(f"{prefix}.pub.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        private.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise SigningError(f"{private} exists; keygen never replaces a private key") from err
    except OSError as err:
        raise SigningError(f"{private}: cannot be written: {err.strerror}") from err
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m markit.archive.signing", description="Make a key pair for build_mar.sh --sign.")
    commands = parser.add_subparsers(dest="command", required=True)
    keygen = commands.add_parser("keygen", help="write PREFIX.pem (private, 0600) and PREFIX.pub.pem")
    keygen.add_argument("prefix", type=Path)
    args = parser.parse_args(argv)
    try:
        private, public = generate_keys(args.prefix)
    except MarkitError as err:
        return report("signing", err)
    print(f"private key {private} (keep it with the publisher) · public key {public} (name it in config/trust.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
