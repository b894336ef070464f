"""Streams that hash, count, gunzip strictly and translate read errors."""

from __future__ import annotations

import contextlib
import hashlib
import io
import struct
import tarfile
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from .format import COPY_BUFSIZE, GZIP_MAGIC, ArchiveError, Readable, Writable


class HashingWriter:
    """Counts and hashes every byte on its way to ``out``, in ~1 MiB writes
    (few, large writes suit pipes feeding multipart uploads). ``on_write`` hears the
    byte count so far after each of them (a progress display counts with this writer
    instead of wrapping ``out`` in a second counting one)."""

    def __init__(self, out: Writable, on_write: Callable[[int], None] | None = None) -> None:
        self._out = out
        self._on_write = on_write
        self._buf = bytearray()
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self._buf += data
        if len(self._buf) >= COPY_BUFSIZE:
            self._flush_buffer()
        return len(data)

    def flush(self) -> None:
        self._flush_buffer()
        flush = getattr(self._out, "flush", None)  # pipes and multipart sinks may have none
        if flush is not None:
            flush()

    def _flush_buffer(self) -> None:
        if not self._buf:
            return
        data = bytes(self._buf)  # the sink may keep a reference; never mutate it
        self._buf.clear()
        self.sha.update(data)
        self.size += len(data)
        pending: bytes | memoryview = data
        while pending:  # raw (unbuffered) streams may accept fewer bytes
            written = self._out.write(pending)
            if written is None or written >= len(pending):
                break
            pending = memoryview(pending)[written:]
        if self._on_write is not None:
            self._on_write(self.size)


class MixedGzipWriter:
    """One gzip member whose deflate data switches between compressed and stored blocks.

    ``stored(True)`` makes the next bytes go out as raw deflate "stored" blocks (a copy
    and a CRC, no compression): right for JPEG/PNG/WebP/GIF, which do not shrink. Before
    that a Z_FULL_FLUSH ends the compressed run on a byte boundary and resets the
    compressor, so its later back-references never reach across the stored bytes it
    did not see. Every gzip reader (`tar xzf`, Python's gzip, v1 readers) reads the
    result as an ordinary single-member .gz file.
    """

    _STORED_MAX = 0xFFFF  # a stored block holds at most 65,535 bytes

    def __init__(self, out: Writable, level: int, mtime: int) -> None:
        self._out = out
        self._z = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        self._stored = False
        # gzip header: magic, deflate, no flags, mtime, no extra flags, OS = Unix
        out.write(GZIP_MAGIC + b"\x08\x00" + struct.pack("<I", mtime) + b"\x00\x03")

    def stored(self, on: bool) -> None:
        if on and not self._stored:
            self._out.write(self._z.flush(zlib.Z_FULL_FLUSH))
        self._stored = on

    def write(self, data: bytes | memoryview) -> int:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        if not self._stored:
            self._out.write(self._z.compress(data))
            return len(data)
        view = memoryview(data)
        for start in range(0, len(view), self._STORED_MAX):
            chunk = view[start : start + self._STORED_MAX]
            # BFINAL=0, BTYPE=00, padding to the byte boundary; LEN and its complement.
            self._out.write(struct.pack("<BHH", 0, len(chunk), len(chunk) ^ 0xFFFF))
            self._out.write(chunk)
        return len(data)

    def tell(self) -> int:
        """Uncompressed bytes so far (tarfile asks when it opens for writing)."""
        return self._size

    def close(self) -> None:
        self._out.write(self._z.flush(zlib.Z_FINISH))
        self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))


class HashingReader(io.RawIOBase):
    """Hashes and counts bytes as a consumer reads them, so data is never held
    whole. ``read(n)`` returns n bytes unless the source is exhausted (tarfile
    treats a short read as end of data). ``guard`` translates errors of the
    underlying source; ``expected`` turns a premature end into an ArchiveError."""

    def __init__(
        self,
        raw: Readable,
        *,
        guard: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
        expected: int | None = None,
        label: str = "",
    ) -> None:
        super().__init__()
        self._raw = raw
        self._guard = guard
        self._expected = expected
        self._label = label
        self._sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def hexdigest(self) -> str:
        return self._sha.hexdigest()

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        chunks, remaining = [], size
        while remaining > 0:
            with self._guard():
                chunk = self._raw.read(remaining)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        self._sha.update(data)
        self.size += len(data)
        self._check_premature_end(remaining)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return b"".join(iter(lambda: self.read(COPY_BUFSIZE), b""))

    def drain(self) -> None:
        """Consume what the consumer left, so the hash covers the whole member."""
        while self.read(COPY_BUFSIZE):
            pass

    def has_more(self) -> bool:
        """Peek past the end without hashing: did the source hold extra bytes?"""
        return bool(self._raw.read(1))

    def _check_premature_end(self, missing: int) -> None:
        if missing and self._expected is not None and self.size < self._expected:
            raise ArchiveError(
                f"{self._label}: source ended after {self.size} bytes, "
                f"but its declared size is {self._expected}"
            )


_UNREADABLE_TAIL = "archive is corrupt: unreadable data after the last tar member"


def _is_zeros(data: bytes) -> bool:
    return data.count(0) == len(data)


class GunzipReader:
    """Decompresses the gzip stream on demand and insists it is complete.

    tarfile's own ``r|gz`` ignores the gzip trailer, so a stream cut inside the
    tar end-of-archive padding would pass; here any truncation, CRC error or
    trailing garbage raises ArchiveError. Output is bounded per call
    (``max_length``), so a decompression bomb cannot exhaust memory.
    """

    def __init__(self, inp: Readable) -> None:
        self._inp = inp
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = bytearray()
        self._started = False
        self.delivered = 0
        # tarfile reads ahead (< TAR_BUFSIZE); keep the last chunks handed out
        # (references, no copies) to inspect what it read past the end marker.
        self._recent: deque[bytes] = deque(maxlen=4)

    def read(self, size: int) -> bytes:
        while len(self._buf) < size and not self._z.eof:
            self._fill(max(size - len(self._buf), COPY_BUFSIZE))
        data = bytes(self._buf[:size])
        del self._buf[:size]
        self.delivered += len(data)
        self._recent.append(data)
        return data

    def finish(self, tar_end: int) -> None:
        """Read to the end of the gzip stream: from the tar end-of-archive marker
        at offset ``tar_end`` on, only zero padding may follow. This also catches
        a corrupt header mid-archive, which tarfile treats as the end."""
        read_ahead = max(self.delivered - tar_end, 0)
        recent = b"".join(self._recent)
        if read_ahead > len(recent) or not _is_zeros(recent[len(recent) - read_ahead :]):
            raise ArchiveError(_UNREADABLE_TAIL)
        while data := self.read(COPY_BUFSIZE):
            if not _is_zeros(data):
                raise ArchiveError(_UNREADABLE_TAIL)

    def _fill(self, limit: int) -> None:
        data = self._z.unconsumed_tail or self._next_input()
        try:
            out = self._z.decompress(data, limit)
        except zlib.error as exc:
            raise ArchiveError(f"archive is corrupt: invalid compressed data ({exc})") from exc
        if not data and not out and not self._z.eof:
            raise ArchiveError("archive is truncated" if self._started else "archive is empty")
        self._buf += out
        if self._z.eof and (self._z.unused_data or self._inp.read(1)):
            raise ArchiveError("unexpected data after the end of the archive")

    def _next_input(self) -> bytes:
        data = self._inp.read(COPY_BUFSIZE)
        if not self._started and data and not GZIP_MAGIC.startswith(data[:2]):
            raise ArchiveError("not a blog backup: not a gzip-compressed file")
        self._started = self._started or bool(data)
        return data


@contextlib.contextmanager
def archive_errors() -> Iterator[None]:
    """Translate the many ways tar/gzip reading fails into ArchiveError.

    Used only around archive machinery, never around caller callbacks, so a
    callback's own OSError (e.g. disk full) is not mislabelled as corruption.
    """
    try:
        yield
    except ArchiveError:
        raise
    except EOFError as exc:
        raise ArchiveError("archive is truncated") from exc
    except tarfile.TarError as exc:
        if "unexpected end of data" in str(exc):
            raise ArchiveError("archive is truncated") from exc
        raise ArchiveError(f"archive is corrupt: {exc}") from exc
    except zlib.error as exc:
        raise ArchiveError(f"archive is corrupt: invalid compressed data ({exc})") from exc
    except OSError as exc:
        raise ArchiveError(f"cannot read archive: {exc}") from exc
    except ValueError as exc:  # e.g. malformed numeric tar header fields
        raise ArchiveError(f"archive is corrupt: {exc}") from exc
