"""One reading of a ``.mar``'s bytes: refuse any zip whose local headers and central directory disagree.

A zip can be read two ways. Python's ``zipfile`` (and so ``markit.archive.verify`` and the signature check)
reads the central directory at the end; Java's ``ZipInputStream`` (how TorchServe unpacks a ``.mar``) walks
the local headers from the first byte. An archive that says one thing to each, e.g. a second
``archive_entry_*.py`` appended after the last member and left out of the central directory, passes every
check made from the central directory while TorchServe runs the hidden copy.

``check_layout`` accepts only the one layout ``zipfile`` writes, where both readings are the same list:

    [local header 0][data 0]...[local header n-1][data n-1][central directory][end record]

- the first local header at byte 0, each next one where the previous member's data ends (no gap, no
  overlap, no bytes before the first, between two, or after the last member);
- the central directory right after the last member, holding exactly those members in that order, each
  naming the offset, name, method, flags, CRC and sizes its local header carries;
- the end record right after the central directory, last in the file, with no comment, one disk, and the
  entry count it states; no zip64, no encryption, methods stored and deflate only;
- names unique, plain relative POSIX paths (no ``..``, ``.``, empty part, backslash, or absolute path).

It reads headers only (linear in the number of members), never member data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import UsageError

__all__ = ["MarFileError", "ZipLayoutError", "check_file", "check_layout"]

LOCAL = struct.Struct("<IHHHHHIIIHH")  # signature, version, flags, method, time, date, crc, csize, usize, name, extra
CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # + made-by first; comment, disk, internal, external, offset last
END = struct.Struct("<IHHHHIIH")  # signature, disk, cd disk, entries here, entries, cd size, cd offset, comment
DESCRIPTOR = struct.Struct("<III")  # crc, csize, usize (after an optional signature)
LOCAL_SIG, CENTRAL_SIG, END_SIG, DESCRIPTOR_SIG = 0x04034B50, 0x02014B50, 0x06054B50, 0x08074B50
ENCRYPTED, HAS_DESCRIPTOR, UTF8 = 0x1, 0x8, 0x800
METHODS = {0: "stored", 8: "deflate"}
MAX_MEMBERS = 100_000


class MarFileError(UsageError):
    """A ``.mar`` that cannot be read, or that lacks the serving settings it must declare: exit 2."""


class ZipLayoutError(MarFileError):
    """The zip's two readings (local headers, central directory) differ, or it has a part build_mar.sh never writes."""


@dataclass(frozen=True)
class _Entry:
    name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int


def check_layout(handle: BinaryIO, label: str) -> list[str]:
    """The member names, in order, of the zip open in ``handle``; ``ZipLayoutError`` naming what disagrees."""
    handle.seek(0, 2)
    size = handle.tell()
    entries, cd_offset = _central_directory(handle, size, label)
    position = 0
    for index, entry in enumerate(entries):
        if entry.offset != position:
            raise ZipLayoutError(f"{label}: member {_show(entry.name)} {_misplaced(index, entry.offset, position)}: a hidden "
                                 "or overlapping entry, refusing the archive")
        position = _local_member(handle, entry, label)
    if position != cd_offset:
        raise ZipLayoutError(f"{label}: {cd_offset - position} bytes between the last member and the central directory, "
                             "which a reader walking local headers (TorchServe's) would unpack too: a hidden entry, refusing the archive")
    return [entry.name.decode("utf-8") for entry in entries]


def _misplaced(index: int, offset: int, expected: int) -> str:
    if offset < expected:
        return f"starts at byte {offset}, inside the member before it"
    where = "before the first member" if index == 0 else "after the member before it"
    return f"starts at byte {offset}: {offset - expected} bytes {where}"


def _central_directory(handle: BinaryIO, size: int, label: str) -> tuple[list[_Entry], int]:
    if size < END.size:
        raise ZipLayoutError(f"{label}: {size} bytes, too short for a zip")
    handle.seek(size - END.size)
    signature, disk, cd_disk, here, total, cd_size, cd_offset, comment = END.unpack(handle.read(END.size))
    if signature != END_SIG or comment:
        raise ZipLayoutError(f"{label}: the zip's end record is not the last 22 bytes (a comment or trailing bytes after "
                             "it); build_mar.sh writes neither, refusing the archive")
    if disk or cd_disk or here != total or total > MAX_MEMBERS or 0xFFFF in (here, total) or 0xFFFFFFFF in (cd_size, cd_offset):
        raise ZipLayoutError(f"{label}: a multi-disk or zip64 end record ({total} entries); build_mar.sh writes neither")
    if cd_offset + cd_size != size - END.size:
        raise ZipLayoutError(f"{label}: the central directory ({cd_size} bytes at byte {cd_offset}) does not end where the "
                             f"end record starts (byte {size - END.size}): bytes before the first member or after the "
                             "central directory, refusing the archive")
    handle.seek(cd_offset)
    table = handle.read(cd_size)
    entries, seen, cursor = [], set(), 0
    for _ in range(total):
        entry, cursor = _central_entry(table, cursor, label)
        _check_name(entry.name, entry.flags, label)
        if entry.name in seen:
            raise ZipLayoutError(f"{label}: member {_show(entry.name)} appears twice; the second would overwrite the first "
                                 "when unpacked, refusing the archive")
        seen.add(entry.name)
        entries.append(entry)
    if cursor != cd_size:
        raise ZipLayoutError(f"{label}: the central directory holds {cd_size - cursor} bytes beyond its {total} entries")
    return entries, cd_offset


def _central_entry(table: bytes, cursor: int, label: str) -> tuple[_Entry, int]:
    if cursor + CENTRAL.size > len(table):
        raise ZipLayoutError(f"{label}: the central directory ends inside an entry")
    (signature, _made, _needed, flags, method, _time, _date, crc, csize, usize, name_length, extra_length, comment_length,
     disk, _internal, _external, offset) = CENTRAL.unpack_from(table, cursor)
    if signature != CENTRAL_SIG or disk:
        raise ZipLayoutError(f"{label}: entry at byte {cursor} of the central directory is not a central directory header")
    start = cursor + CENTRAL.size
    end = start + name_length + extra_length + comment_length
    if end > len(table):
        raise ZipLayoutError(f"{label}: the central directory ends inside an entry's name or extra field")
    name = table[start:start + name_length]
    entry = _Entry(name, flags, method, crc, csize, usize, offset)
    _check_entry(entry, label)
    return entry, end


def _check_entry(entry: _Entry, label: str) -> None:
    if entry.flags & ENCRYPTED:
        raise ZipLayoutError(f"{label}: member {_show(entry.name)} is encrypted; build_mar.sh encrypts nothing")
    if entry.method not in METHODS:
        raise ZipLayoutError(f"{label}: member {_show(entry.name)} uses compression method {entry.method}; "
                             f"only {' and '.join(METHODS.values())} are accepted")
    if 0xFFFFFFFF in (entry.csize, entry.usize, entry.offset):
        raise ZipLayoutError(f"{label}: member {_show(entry.name)} needs zip64 (4 GiB or more); not supported")


def _check_name(raw: bytes, flags: int, label: str) -> None:
    try:
        name = raw.decode("utf-8" if flags & UTF8 else "ascii")
    except UnicodeDecodeError as err:
        raise ZipLayoutError(f"{label}: member name {raw[:80]!r} is not {'UTF-8' if flags & UTF8 else 'ASCII'}") from err
    parts = name.split("/")
    if name.endswith("/"):
        parts = parts[:-1]  # a directory entry
    plain = PurePosixPath(name).as_posix() == name.rstrip("/") and all(part not in ("", ".", "..") for part in parts)
    if not name or name.startswith("/") or "\\" in name or "\x00" in name or not plain or parts[0].endswith(":"):
        raise ZipLayoutError(f"{label}: member name {name!r} is not a plain relative path (absolute, '..', '.', an empty "
                             "part or a backslash): it could unpack elsewhere, refusing the archive")


def _local_member(handle: BinaryIO, entry: _Entry, label: str) -> int:
    """Check the local header at ``entry.offset`` against the central directory; where the member ends."""
    handle.seek(entry.offset)
    header = handle.read(LOCAL.size)
    if len(header) != LOCAL.size:
        raise ZipLayoutError(f"{label}: member {_show(entry.name)}: its local header lies past the end of the file")
    signature, _needed, flags, method, _time, _date, crc, csize, usize, name_length, extra_length = LOCAL.unpack(header)
    name = handle.read(name_length)
    if signature != LOCAL_SIG or name != entry.name:
        raise ZipLayoutError(f"{label}: the local header at byte {entry.offset} names {_show(name)}, the central directory "
                             f"{_show(entry.name)}: the two readings differ, refusing the archive")
    if (flags, method) != (entry.flags, entry.method):
        raise ZipLayoutError(f"{label}: member {_show(entry.name)}: local and central headers differ in flags or method")
    data_start = entry.offset + LOCAL.size + name_length + extra_length
    end = data_start + entry.csize
    if flags & HAS_DESCRIPTOR:
        handle.seek(end)
        first = handle.read(4)
        has_signature = len(first) == 4 and struct.unpack("<I", first)[0] == DESCRIPTOR_SIG
        handle.seek(end + (4 if has_signature else 0))
        crc, csize, usize = DESCRIPTOR.unpack(handle.read(DESCRIPTOR.size).ljust(DESCRIPTOR.size, b"\0"))
        end += DESCRIPTOR.size + (4 if has_signature else 0)
    if (crc, csize, usize) != (entry.crc, entry.csize, entry.usize):
        raise ZipLayoutError(f"{label}: member {_show(entry.name)}: local and central headers state different CRC or sizes "
                             "(the two readings differ), refusing the archive")
    return end


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "replace")[:120])


def check_file(path: Path) -> list[str]:
    """``check_layout`` of the file at ``path``."""
    with Path(path).open("rb") as handle:
        return check_layout(handle, Path(path).name)
