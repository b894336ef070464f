"""A ZIP writer whose memory does not grow with the number of entries.

`zipfile.ZipFile` keeps a `ZipInfo` per entry until it writes the central directory at
the end, so a 20,000-post bundle holds twice the metadata of a 10,000-post one. This
writer appends each entry's central-directory record to a temporary file instead, and
never seeks in its output (any writable stream works). ZIP64 records are written when
offsets or the entry count pass the classic limits; a single entry stays below 4 GiB
(posts and images are far smaller).

Entries given as bytes carry their sizes in the local header (the EPUB `mimetype` entry
must look like that); streamed entries use a data descriptor after their data.
"""

from __future__ import annotations

import struct
import tempfile
import time
import zlib

from processing.archive.format import Readable, Writable

STORED, DEFLATED = 0, 8
CHUNK = 256 * 1024
_UTF8 = 0x0800  # general purpose flag bit 11: names are UTF-8
_DESCRIPTOR = 0x0008  # bit 3: crc and sizes follow the data
_MAX32, _MAX16 = 0xFFFFFFFF, 0xFFFF
_UNIX_FILE = (0o100644 << 16) & 0xFFFFFFFF


class ZipTooLarge(ValueError):
    """One entry reached 4 GiB, which this writer does not support."""


def _dos_time(timestamp: float) -> tuple[int, int]:
    t = time.gmtime(max(timestamp, 315532800))  # ZIP dates start in 1980
    return (
        (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2),
        ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday,
    )


class ZipWriter:
    """Write entries one after another with `add_bytes` / `add_stream`, then `close()`."""

    def __init__(self, out: Writable, timestamp: float | None = None) -> None:
        self._out = out
        self._offset = 0
        self._count = 0
        self._central = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close/abort)
        self._time, self._date = _dos_time(time.time() if timestamp is None else timestamp)

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._offset += len(data)

    def _local_header(
        self, name: bytes, flags: int, method: int, crc: int, csize: int, usize: int
    ) -> None:
        self._write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                20,
                flags,
                method,
                self._time,
                self._date,
                crc,
                csize,
                usize,
                len(name),
                0,
            )
            + name
        )

    def _central_record(
        self, name: bytes, flags: int, method: int, crc: int, csize: int, usize: int, offset: int
    ) -> None:
        extra, version = b"", 20
        if offset >= _MAX32:
            extra, version, offset = struct.pack("<HHQ", 0x0001, 8, offset), 45, _MAX32
        self._central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | version,  # made by: Unix
                version,
                flags,
                method,
                self._time,
                self._date,
                crc,
                csize,
                usize,
                len(name),
                len(extra),
                0,
                0,
                0,
                _UNIX_FILE,
                offset,
            )
            + name
            + extra
        )
        self._count += 1

    def add_bytes(self, name: str, data: bytes, compress: bool = True) -> None:
        """A small entry known in full: sizes go in the local header, no descriptor."""
        raw = name.encode("utf-8")
        crc = zlib.crc32(data)
        method = DEFLATED if compress else STORED
        if compress:
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = packer.compress(data) + packer.flush()
        else:
            body = data
        if len(data) >= _MAX32 or len(body) >= _MAX32:
            raise ZipTooLarge(name)
        offset = self._offset
        self._local_header(raw, _UTF8, method, crc, len(body), len(data))
        self._write(body)
        self._central_record(raw, _UTF8, method, crc, len(body), len(data), offset)

    def add_stream(self, name: str, source: Readable, compress: bool = False) -> int:
        """An entry read from `source` in chunks (images: stored, they are compressed
        already). Returns its size."""
        raw = name.encode("utf-8")
        flags = _UTF8 | _DESCRIPTOR
        method = DEFLATED if compress else STORED
        offset = self._offset
        self._local_header(raw, flags, method, 0, 0, 0)
        packer = zlib.compressobj(6, zlib.DEFLATED, -15) if compress else None
        crc = usize = csize = 0
        while chunk := source.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            usize += len(chunk)
            body = packer.compress(chunk) if packer else chunk
            csize += len(body)
            self._write(body)
        if packer:
            tail = packer.flush()
            csize += len(tail)
            self._write(tail)
        if usize >= _MAX32 or csize >= _MAX32:
            raise ZipTooLarge(name)
        self._write(struct.pack("<IIII", 0x08074B50, crc, csize, usize))
        self._central_record(raw, flags, method, crc, csize, usize, offset)
        return usize

    def close(self) -> int:
        """Write the central directory and the end records; returns the archive size."""
        start, size = self._offset, self._central.tell()
        self._central.seek(0)
        while chunk := self._central.read(CHUNK):
            self._write(chunk)
        self._central.close()
        count = self._count
        if count >= _MAX16 or start >= _MAX32 or size >= _MAX32:
            zip64_at = self._offset
            self._write(
                struct.pack(
                    "<IQHHIIQQQQ",
                    *(0x06064B50, 44, (3 << 8) | 45, 45, 0, 0, count, count, size, start),
                )
            )
            self._write(struct.pack("<IIQI", 0x07064B50, 0, zip64_at, 1))
            count, size, start = min(count, _MAX16), min(size, _MAX32), min(start, _MAX32)
        self._write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))
        return self._offset

    def abort(self) -> None:
        self._central.close()
