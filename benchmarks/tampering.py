"""Tampered copies of a built archive, one per way an attacker or an accident can change it: for the
reliability report (``benchmarks.reliability``) and the tests of the checks that refuse them.

Each variant makes a tampered copy (``make(source, target)``) and names the words the refusal must
contain. Most change the zip's members; the hidden-entry variants change its bytes so that a reader of the
central directory (Python's ``zipfile``, which every check used to be) and a reader walking local headers
(TorchServe's Java ``ZipInputStream``) see different archives. Their injected code, if it ever runs,
writes ``marker_for(target)``: its absence proves that no injected code ran."""

from __future__ import annotations

import hashlib
import json
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from markit.core.manifest import identity_of

__all__ = ["CHANGED", "HIDDEN", "LABELS", "TAMPERED", "Tamper", "marker_for", "relabel", "rewrite"]

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


def relabel(members, _infos, *, rehash: bool = False, reidentify: bool = False, golden: bool = False) -> None:
    """The labels changed (``CHANGED``); with ``rehash`` their hash in the manifest too, with ``golden`` the golden
    examples' expected labels too (so that the edited archive reproduces its own golden answers), with
    ``reidentify`` the identity recomputed: each a more thorough edit."""
    before = json.loads(members[LABELS])
    renamed = {json.dumps(before[key]): json.dumps(label) for key, label in json.loads(CHANGED).items()
               if key in before and before[key] != label}
    members[LABELS] = CHANGED

    def edit(manifest: dict) -> None:
        if rehash:
            manifest["files"][LABELS] = hashlib.sha256(CHANGED).hexdigest()
        if golden:
            text = json.dumps(manifest["spec"]["golden"])
            for old, new in renamed.items():
                text = text.replace(old, new)
            manifest["spec"]["golden"] = json.loads(text)
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
    mar["model"]["handler"] = "runtime/core/handler.py"
    members["MAR-INF/MANIFEST.json"] = json.dumps(mar).encode()


def requirements(members, _infos) -> None:
    mar = json.loads(members["MAR-INF/MANIFEST.json"])
    mar["model"]["requirementsFile"] = "model-config.yaml"
    members["MAR-INF/MANIFEST.json"] = json.dumps(mar).encode()


def symlink(members, infos) -> None:
    info = zipfile.ZipInfo("model/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    infos["model/link"], members["model/link"] = info, b"/etc/passwd"


def members(change: Callable[[dict[str, bytes], dict[str, zipfile.ZipInfo]], None]) -> Callable[[Path, Path], Path]:
    """A variant that changes the members (``rewrite``)."""
    return lambda source, target: rewrite(source, target, change)


# -- byte-level variants: the zip's two readings made to differ ------------------------------------------
END = struct.Struct("<IHHHHIIH")
CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")


def marker_for(target: Path) -> Path:
    """The file injected code writes when it runs (beside the tampered archive)."""
    return Path(target).with_name(Path(target).stem + ".INJECTED-CODE-RAN")


def _injected(target: Path, handler: bool) -> bytes:
    code = f"import pathlib\npathlib.Path({str(marker_for(target))!r}).write_text('ran')\n"
    if handler:
        code += "class Evil:\n    def initialize(self, context):\n        pass\n    def handle(self, data, context):\n" \
                "        return ['owned'] * len(data)\n"
    return code.encode()


def _local_header(name: str, payload: bytes) -> bytes:
    encoded = name.encode()
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, zlib.crc32(payload), len(payload), len(payload),
                       len(encoded), 0) + encoded + payload


def _end(data: bytes) -> tuple[int, list]:
    position = len(data) - END.size
    return position, list(END.unpack_from(data, position))


def _central(data: bytes) -> list[tuple[int, list, bytes]]:
    """(position, fields, name) of each central directory entry."""
    _, end = _end(data)
    entries, cursor = [], end[6]
    for _ in range(end[4]):
        fields = list(CENTRAL.unpack_from(data, cursor))
        name = data[cursor + CENTRAL.size:cursor + CENTRAL.size + fields[10]]
        entries.append((cursor, fields, name))
        cursor += CENTRAL.size + fields[10] + fields[11] + fields[12]
    return entries


def _entry_name(source: Path, prefix: str) -> str:
    with zipfile.ZipFile(source) as archive:
        return next(name for name in archive.namelist() if name.startswith(prefix))


def hidden_after_last(prefix: str, handler: bool) -> Callable[[Path, Path], Path]:
    """A stored local entry named like the member ``prefix...`` slipped in after the last member and left out
    of the central directory, whose offset moves past it (the reproducer of issue 23)."""
    def make(source: Path, target: Path) -> Path:
        data = bytearray(Path(source).read_bytes())
        position, end = _end(bytes(data))
        hidden = _local_header(_entry_name(source, prefix), _injected(target, handler))
        end[6] += len(hidden)
        data[position:] = END.pack(*end)
        target.write_bytes(bytes(data[:end[6] - len(hidden)]) + hidden + bytes(data[end[6] - len(hidden):]))
        return target
    return make


def hidden_before_first(shifted: bool) -> Callable[[Path, Path], Path]:
    """The handler's hidden copy placed before the first member, every offset moved past it (``shifted``) or
    left as is (which Python's zipfile still reads, taking the front bytes for a prepended stub)."""
    def make(source: Path, target: Path) -> Path:
        data = bytearray(Path(source).read_bytes())
        hidden = _local_header(_entry_name(source, "archive_entry_"), _injected(target, True))
        if shifted:
            for position, fields, _name in _central(bytes(data)):
                fields[16] += len(hidden)
                data[position:position + CENTRAL.size] = CENTRAL.pack(*fields)
            position, end = _end(bytes(data))
            end[6] += len(hidden)
            data[position:] = END.pack(*end)
        target.write_bytes(hidden + bytes(data))
        return target
    return make


def duplicated_handler(source: Path, target: Path) -> Path:
    """The entry module twice, in both directories, the second copy injected (unpacking keeps the last)."""
    name = _entry_name(source, "archive_entry_")
    rewrite(source, target, lambda m, i: None)
    with zipfile.ZipFile(target, "a") as archive:
        archive.writestr(name, _injected(target, True))
    return target


def renamed_local_header(source: Path, target: Path) -> Path:
    """The labels' local header names another file of the same length than its central directory entry."""
    data = bytearray(Path(source).read_bytes())
    for _position, fields, name in _central(bytes(data)):
        if name == LABELS.encode():
            start = fields[16] + 30
            data[start:start + len(name)] = b"index_to_name.jsoN"
    target.write_bytes(bytes(data))
    return target


def overlapping(source: Path, target: Path) -> Path:
    """The last central directory entry pointed at the first member's local header: two entries, one local header."""
    data = bytearray(Path(source).read_bytes())
    position, fields, _name = _central(bytes(data))[-1]
    fields[16] = 0
    data[position:position + CENTRAL.size] = CENTRAL.pack(*fields)
    target.write_bytes(bytes(data))
    return target


def bytes_between(where: str) -> Callable[[Path, Path], Path]:
    """Bytes after the end record, or between the central directory and the end record."""
    def make(source: Path, target: Path) -> Path:
        data = Path(source).read_bytes()
        position, _ = _end(data)
        junk = b"PK\x05\x06 not part of the archive"
        target.write_bytes(data + junk if where == "after" else data[:position] + junk + data[position:])
        return target
    return make


def commented(source: Path, target: Path) -> Path:
    rewrite(source, target, lambda m, i: None)
    with zipfile.ZipFile(target, "a") as archive:
        archive.comment = b"a comment"
    return target


@dataclass(frozen=True)
class Tamper:
    make: Callable[[Path, Path], Path]  # (built archive, where the tampered copy goes) -> that copy
    message: str  # what the refusal must contain


TAMPERED = {variant: Tamper(members(change), message) for variant, (change, message) in {
    "a label changed": (relabel, "'index_to_name.json' was modified after build"),
    "a label changed, its hash updated": (lambda m, i: relabel(m, i, rehash=True), "the manifest was edited after build"),
    "a file added": (lambda m, _i: m.update({"extra.txt": b"x"}), "'extra.txt' is not listed in manifest.json: an added file"),
    "a handler added and named": (added_handler, "'evil.py' is not listed in manifest.json"),
    "the handler pointed at another file": (
        handler_to_a_listed_file, "names handler 'runtime/core/handler.py', not the archive's own entry"),
    "a requirements file": (requirements, "has 'model.requirementsFile', which build_mar.sh never writes"),
    "an absolute path": (lambda m, _i: m.update({"/tmp/owned.py": b"x"}), "member name '/tmp/owned.py' is not a plain relative path"),
    "a parent path": (lambda m, _i: m.update({"../owned.py": b"x"}), "member name '../owned.py' is not a plain relative path"),
    "a symbolic link": (symlink, "entry 'model/link' is a symbolic link"),
    "a file missing": (lambda m, _i: m.pop(LABELS), "'index_to_name.json' is listed in manifest.json but missing"),
}.items()}

# the zip's two readings made to differ: what TorchServe's Java unpacker would have run is not what was checked
HIDDEN = {
    "the entry module hidden after the last member": Tamper(
        hidden_after_last("archive_entry_", handler=True), "between the last member and the central directory"),
    "runtime/tasks/convention/handler.py hidden after the last member": Tamper(
        hidden_after_last("runtime/tasks/convention/handler.py", handler=False), "between the last member and the central directory"),
    "the entry module hidden before the first member": Tamper(hidden_before_first(shifted=True), "before the first member"),
    "the entry module prepended, offsets unchanged": Tamper(hidden_before_first(shifted=False), "does not end where the end record"),
    "the entry module twice": Tamper(duplicated_handler, "appears twice"),
    "a local header naming another file": Tamper(renamed_local_header, "the two readings differ"),
    "two entries on one local header": Tamper(overlapping, "inside the member before it"),
    "bytes after the end record": Tamper(bytes_between("after"), "the zip's end record is not the last 22 bytes"),
    "bytes between the central directory and the end record": Tamper(bytes_between("before"), "does not end where the end record"),
    "a zip comment": Tamper(commented, "the zip's end record is not the last 22 bytes"),
}
