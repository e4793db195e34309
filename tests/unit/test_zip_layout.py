"""The zip's two readings (markit.archive.zip_layout) on small zips made here: what zipfile writes passes, every
other layout is refused naming what differs."""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from markit.archive.zip_layout import ZipLayoutError, check_layout

MEMBERS = {"a.txt": b"alpha" * 40, "dir/b.bin": bytes(range(256)), "c.json": b"{}"}


def zipped(members=MEMBERS, compression=zipfile.ZIP_DEFLATED, stream=False) -> bytes:
    buffer = io.BytesIO()
    target = Unseekable(buffer) if stream else buffer
    with zipfile.ZipFile(target, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


class Unseekable(io.RawIOBase):
    """A file zipfile cannot seek back in: it writes each member's sizes after its data (a data descriptor)."""

    def __init__(self, raw: io.BytesIO) -> None:
        self.raw, self.position = raw, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.position += len(data)
        return self.raw.write(data)

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return False


def check(data: bytes) -> list[str]:
    return check_layout(io.BytesIO(data), "t.zip")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
@pytest.mark.parametrize("stream", [False, True], ids=["sizes in the header", "a data descriptor"])
def test_what_zipfile_writes_passes_with_its_names_in_order(compression, stream):
    assert check(zipped(compression=compression, stream=stream)) == list(MEMBERS)


def patch(data: bytes, offset: int, fmt: str, *values) -> bytes:
    changed = bytearray(data)
    struct.pack_into(fmt, changed, offset, *values)
    return bytes(changed)


def end_offset(data: bytes) -> int:
    return len(data) - 22


def central(data: bytes) -> int:
    return struct.unpack_from("<I", data, end_offset(data) + 16)[0]


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d[:5], "too short for a zip"),
    (lambda d: d + b"x", "end record is not the last 22 bytes"),
    (lambda d: b"MZ" + d, "does not end where the end record starts"),
    (lambda d: patch(d, end_offset(d) + 10, "<H", 2), "a multi-disk or zip64 end record"),
    (lambda d: patch(d, end_offset(d) + 4, "<H", 1), "a multi-disk or zip64 end record"),
    (lambda d: patch(d, central(d) + 8, "<H", 1), "is encrypted"),
    (lambda d: patch(d, central(d) + 10, "<H", 12), "compression method 12"),
    (lambda d: patch(d, central(d) + 42, "<I", 1), "starts at byte 1: 1 bytes before the first member"),
    (lambda d: patch(d, central(d) + 16, "<I", 0), "state different CRC or sizes"),
    (lambda d: patch(d, 6, "<H", 0x800), "differ in flags or method"),
], ids=["short", "trailing byte", "prefix", "entry count", "disk number", "encrypted", "method", "first offset", "crc",
        "flags"])
def test_every_other_layout_is_refused_naming_it(change, message):
    with pytest.raises(ZipLayoutError, match=message):
        check(change(zipped()))


@pytest.mark.parametrize("name", ["/abs.txt", "../up.txt", "a/../b.txt", "./a.txt", "a//b.txt", "C:/x.txt", "a\\b.txt"])
def test_a_name_that_is_not_a_plain_relative_path_is_refused(name):
    with pytest.raises(ZipLayoutError, match="is not a plain relative path"):
        check(zipped({name: b"x"}))


def test_a_duplicate_name_is_refused():
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", b"1")
        archive.writestr("a.txt", b"2")
    with pytest.raises(ZipLayoutError, match=r"'a\.txt' appears twice"):
        check(buffer.getvalue())
