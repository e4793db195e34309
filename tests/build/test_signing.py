"""Signed archives and the deploy-time trust policy (markit.archive.signing, markit.archive.verify --trust): a signed
archive passes, and one edited after signing -- even consistently, hashes and identity recomputed -- is refused,
as are unsigned archives, other keys' signatures and identities other than the pinned one."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ed25519

from benchmarks.tampering import TAMPERED, relabel, rewrite
from markit.archive.mar_file import MarFileError
from markit.archive.signing import SIGNATURE_NAME, SigningError, TrustPolicy, check_trust, sign_mar
from markit.archive.unpack import unpack_verified
from markit.archive.verify import main as verify_main
from markit.archive.verify import verify_mar
from markit.builder import build_archive
from markit.builder.__main__ import main as build_main
from markit.core.unpacked import UnpackedArchive

from helpers import unpacked, write_key, write_tiny_spec

unzipped = unpacked  # an edited archive's members, unchecked: what the signature check alone says of them


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("keys")
    return {"publisher": write_key(root, "publisher"), "other": write_key(root, "other")}


@pytest.fixture(scope="module")
def signed_mar(tmp_path_factory: pytest.TempPathFactory, keys) -> Path:
    """tiny.mar built with --sign, as build_mar.sh makes it."""
    root = tmp_path_factory.mktemp("signed")
    return build_archive(write_tiny_spec(root / "spec"), root / "store", progress=lambda _: None,
                         sign_key=keys["publisher"][0]).path


def trusted(mar: Path, policy: TrustPolicy, tmp_path: Path) -> str:
    """What the policy said of ``mar`` once checked and unpacked, as every engine is given it."""
    return unpack_verified(mar, tmp_path / "served" / mar.stem, policy).trusted


def policy(tmp_path: Path, **data) -> TrustPolicy:
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump(data))
    return TrustPolicy.load(path)


def test_a_signed_archive_carries_its_signature_and_passes_every_check(signed_mar, keys, tmp_path):
    with zipfile.ZipFile(signed_mar) as archive:
        assert SIGNATURE_NAME in archive.namelist()
        bundle = json.loads(archive.read(SIGNATURE_NAME))
    assert bundle["verificationMaterial"]["tlogEntries"] == []  # offline: no transparency log
    verify_mar(signed_mar)
    assert trusted(signed_mar, policy(tmp_path, signed_by=[str(keys["publisher"][1])]), tmp_path) == "signed"
    UnpackedArchive.open(unpacked(signed_mar, tmp_path / "model"))  # the worker allows the one unlisted file, the signature


def test_a_signed_archive_edited_consistently_is_refused_naming_the_file(signed_mar, keys, tmp_path):
    edited = rewrite(signed_mar, tmp_path / "tiny.mar", lambda m, i: relabel(m, i, rehash=True, reidentify=True))
    verify_mar(edited)  # every check without a signature passes
    with pytest.raises(MarFileError) as caught:
        trusted(edited, policy(tmp_path, signed_by=[str(keys["publisher"][1])]), tmp_path)
    assert "tiny.mar: its signature does not verify with a trusted key" in str(caught.value)
    assert "(publisher.pub.pem: changed after signing: index_to_name.json, manifest.json)" in str(caught.value)


@pytest.mark.parametrize(("variant", "reason"), [("a file added", "added after signing: extra.txt"),
                                                ("a handler added and named", "added after signing: evil.py"),
                                                ("a file missing", "removed after signing: index_to_name.json")])
def test_other_edits_of_a_signed_archive_are_refused_too(signed_mar, keys, tmp_path, variant, reason):
    changed = TAMPERED[variant].make(signed_mar, tmp_path / "tiny.mar")
    with pytest.raises(MarFileError, match=f"does not verify with a trusted key .*{reason}"):
        check_trust(unzipped(changed, tmp_path / "tree"), "sha256:unused", policy(tmp_path, signed_by=[str(keys["publisher"][1])]),
                    changed.name)


def test_an_unsigned_archive_or_another_keys_signature_is_refused(signed_mar, tiny_mar, keys, tmp_path):
    other = policy(tmp_path, signed_by=[str(keys["other"][1])])
    with pytest.raises(MarFileError, match=r"tiny.mar: not signed \(signature.sigstore.json is missing\)"):
        trusted(tiny_mar, other, tmp_path)
    with pytest.raises(MarFileError, match=r"does not verify with a trusted key \(other.pub.pem: Key mismatch"):
        trusted(signed_mar, other, tmp_path)
    either = policy(tmp_path, signed_by=[str(keys["other"][1]), str(keys["publisher"][1])])
    assert trusted(signed_mar, either, tmp_path) == "signed"


def test_a_pinned_identity_is_required_of_its_model_only(tiny_mar, tmp_path):
    identity = verify_mar(tiny_mar)
    assert trusted(tiny_mar, policy(tmp_path, identities={"tiny": identity}), tmp_path) == "pinned"
    assert trusted(tiny_mar, policy(tmp_path, identities={"other": "sha256:" + "0" * 64}), tmp_path) == ""
    with pytest.raises(MarFileError, match=r"model 'tiny' has identity sha256:\w+, not the sha256:0+ the trust policy pins"):
        trusted(tiny_mar, policy(tmp_path, identities={"tiny": "sha256:" + "0" * 64}), tmp_path)


@pytest.mark.parametrize(("data", "message"), [
    ({"signed_by": "key.pem"}, "signed_by must be a list of public key files"),
    ({"signed_by": ["absent.pub.pem"]}, "public key"),
    ({"identities": {"tiny": "abc"}}, "identities must map model names to 'sha256:...'"),
    ({"trusted": []}, "expected the keys signed_by and identities"),
])
def test_a_bad_policy_is_named(tmp_path, data, message):
    with pytest.raises(Exception, match=message) as caught:
        policy(tmp_path, **data)
    assert caught.value.exit_code == 2


def test_the_command_applies_the_policy_to_a_store(signed_mar, tiny_mar, keys, tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    os.link(signed_mar, store / "signed.mar")
    os.link(tiny_mar, store / "unsigned.mar")
    path = tmp_path / "trust.yaml"
    path.write_text(yaml.safe_dump({"signed_by": [os.path.relpath(keys["publisher"][1], tmp_path)]}))  # relative to the policy
    assert verify_main([str(store), "--trust", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "signed.mar: sha256:" in out and "(signed)" in out
    assert "verify: unsigned.mar: not signed" in err
    shutil.copyfile(tmp_path / "trust.yaml", tmp_path / "broken.yaml")
    (tmp_path / "broken.yaml").write_text("signed_by: [")
    assert verify_main([str(store), "--trust", str(tmp_path / "broken.yaml")]) == 2
    assert "trust policy" in capsys.readouterr().err


def test_signing_needs_an_ecdsa_key(tiny_mar, tmp_path):
    copy = tmp_path / "tiny.mar"
    shutil.copyfile(tiny_mar, copy)
    ed_key, _ = write_key(tmp_path, "ed", ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(SigningError, match="use an ECDSA P-256, P-384 or P-521 private key in PEM"):
        sign_mar(copy, ed_key)
    with pytest.raises(SigningError, match="no such key file"):
        sign_mar(copy, tmp_path / "absent.pem")


def test_build_mar_sign_with_a_missing_key_exits_2_naming_it(tmp_path, capsys):
    spec = write_tiny_spec(tmp_path / "spec")
    assert build_main([str(spec), "--output", str(tmp_path / "out"), "--sign", str(tmp_path / "absent.pem")]) == 2
    assert "--sign " in capsys.readouterr().err and not (tmp_path / "out").exists()  # refused before building


def test_keygen_writes_a_pair_that_signs_and_never_overwrites(tiny_mar, tmp_path, capsys):
    from markit.archive.signing import main as signing_main

    assert signing_main(["keygen", str(tmp_path / "keys" / "publisher")]) == 0
    private, public = tmp_path / "keys" / "publisher.pem", tmp_path / "keys" / "publisher.pub.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    copy = tmp_path / "tiny.mar"
    shutil.copyfile(tiny_mar, copy)
    sign_mar(copy, private)
    assert trusted(copy, policy(tmp_path, signed_by=[str(public)]), tmp_path) == "signed"
    assert signing_main(["keygen", str(tmp_path / "keys" / "publisher")]) == 2
    assert "exists; keygen never replaces a private key" in capsys.readouterr().err
