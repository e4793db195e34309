"""Tampered copies of a built archive, one per way an attacker or an accident can change it: for the
reliability report (``benchmarks.reliability``) and the tests of the checks that refuse them. Each variant
is a change of the zip's members and the words the refusal must contain."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

from markit.runtime.manifest import identity_of

__all__ = ["CHANGED", "LABELS", "TAMPERED", "relabel", "rewrite"]

LABELS = "index_to_name.json"
CHANGED = b'{"0": "cat", "1": "green", "2": "blue"}'


def rewrite(source: Path, target: Path, change: Callable[[dict[str, bytes], dict[str, zipfile.ZipInfo]], None]) -> Path:
    """A copy of ``source`` whose members (name -> bytes) ``change`` edits in place."""
    with zipfile.ZipFile(source) as original:
        infos = {info.filename: info for info in original.infolist()}
        members = {name: original.read(name) for name in infos}
    change(members, infos)
    with zipfile.ZipFile(target, "w") as copy:
        for name, data in members.items():
            copy.writestr(infos.get(name, zipfile.ZipInfo(name)), data)
    return target


def edit_manifest(members: dict[str, bytes], edit: Callable[[dict], None]) -> None:
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()


def relabel(members, _infos, *, rehash: bool = False, reidentify: bool = False) -> None:
    members[LABELS] = CHANGED

    def edit(manifest: dict) -> None:
        if rehash:
            manifest["files"][LABELS] = hashlib.sha256(CHANGED).hexdigest()
        if reidentify:
            manifest["identity"] = identity_of(manifest)
    edit_manifest(members, edit)


def added_handler(members, _infos) -> None:
    members["evil.py"] = b"class Evil:\n    def handle(self, data, context):\n        return ['owned'] * len(data)\n"
    mar = json.loads(members["MAR-INF/MANIFEST.json"])
    mar["model"]["handler"] = "evil.py"
    members["MAR-INF/MANIFEST.json"] = json.dumps(mar).encode()


def handler_to_a_listed_file(members, _infos) -> None:
    mar = json.loads(members["MAR-INF/MANIFEST.json"])
    mar["model"]["handler"] = "runtime/base.py"
    members["MAR-INF/MANIFEST.json"] = json.dumps(mar).encode()


def requirements(members, _infos) -> None:
    mar = json.loads(members["MAR-INF/MANIFEST.json"])
    mar["model"]["requirementsFile"] = "model-config.yaml"
    members["MAR-INF/MANIFEST.json"] = json.dumps(mar).encode()


def symlink(members, infos) -> None:
    info = zipfile.ZipInfo("model/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    infos["model/link"], members["model/link"] = info, b"/etc/passwd"


TAMPERED = {
    "a label changed": (relabel, "'index_to_name.json' was modified after build"),
    "a label changed, its hash updated": (lambda m, i: relabel(m, i, rehash=True), "the manifest was edited after build"),
    "a file added": (lambda m, _i: m.update({"extra.txt": b"x"}), "'extra.txt' is not listed in manifest.json: an added file"),
    "a handler added and named": (added_handler, "'evil.py' is not listed in manifest.json"),
    "the handler pointed at another file": (handler_to_a_listed_file, "names handler 'runtime/base.py', not the archive's own entry"),
    "a requirements file": (requirements, "has 'model.requirementsFile', which build_mar.sh never writes"),
    "an absolute path": (lambda m, _i: m.update({"/tmp/owned.py": b"x"}), "entry '/tmp/owned.py': an absolute or parent path"),
    "a parent path": (lambda m, _i: m.update({"../owned.py": b"x"}), "entry '../owned.py': an absolute or parent path"),
    "a symbolic link": (symlink, "entry 'model/link' is a symbolic link"),
    "a file missing": (lambda m, _i: m.pop(LABELS), "'index_to_name.json' is listed in manifest.json but missing"),
}
