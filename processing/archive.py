"""Blog backup archive format: one streamed ``.tar.gz`` holding Redis data and media.

This module is pure (stdlib only): the parts that talk to Redis, media storage
and S3 feed it iterables and streams. See ``docs/backup-format.md`` for the
same description aimed at operators.

Layout
------
A gzip-compressed tar (PAX format, UTF-8 names), written in a single pass
without seeking, members in this order:

1. ``data.jsonl`` - one JSON object per line per Redis key::

       {"key": "<key without the app prefix>", "type": "string|hash|set|zset|list",
        "value": ..., "ttl_ms": <int >= 0> | null}

   Value encodings: string -> str; hash -> {field: value}; set -> sorted list
   of unique str; zset -> list of [member, score] pairs (unique members,
   score a JSON number, +/-Infinity allowed as Python's json writes it);
   list -> list of str. All text is UTF-8 (the app stores only text).
   Tar needs a member's size before its bytes, so this member is spooled to a
   ``SpooledTemporaryFile`` (8 MiB in memory, then disk) while being hashed.
2. ``media/<storage key>`` - the bytes of every image, streamed from lazily
   opened files and hashed while tarfile copies them (1 MiB buffers).
3. ``manifest.json`` - LAST, so writing stays one pass::

       {"format": "blog-backup", "format_version": 1, "app_version": str,
        "created_at": "YYYY-MM-DDTHH:MM:SSZ", "key_prefix": str,
        "counts": {... as given by the caller ...},
        "members": {"data.jsonl": {"sha256": hex, "size": int},
                    "media/<key>": {...}, ...}}

Verification
------------
The reader streams (never seeks) and checks: the gzip stream is complete
(CRC and length trailer, no trailing bytes), member order and names, every
member's sha256 and size against the manifest, no missing or extra member,
every data.jsonl record's shape, and format/format_version. Any problem,
including truncation anywhere, raises :class:`ArchiveError`.

Two-pass restore (important)
----------------------------
Because the manifest comes last, callbacks given to :func:`read_archive` run
BEFORE the archive is known to be good. Restore therefore reads twice:

1. ``manifest = verify_archive(stream)`` - writes nothing, refuses bad archives;
2. ``read_archive(stream_again, on_record=..., on_media=...)`` - applies data.

Pass 2 re-verifies and raises if the archive changed in between, but by then
some callbacks have run; compare ``sha256`` of the archive bytes across passes
(or against ``ArchiveSummary.sha256`` recorded at backup time) if the source
can change. Checksums detect corruption, not a deliberate forger who rewrites
the manifest too.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import re
import tarfile
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO

FORMAT = "blog-backup"
FORMAT_VERSION = 1
DATA_MEMBER = "data.jsonl"
MANIFEST_MEMBER = "manifest.json"
MEDIA_PREFIX = "media/"
RECORD_TYPES = ("string", "hash", "set", "zset", "list")
RECORD_FIELDS = frozenset({"key", "type", "value", "ttl_ms"})

COPY_BUFSIZE = 1 << 20  # 1 MiB: few Python-level calls per byte, bounded memory
SPOOL_MAX_SIZE = 8 << 20  # data.jsonl stays in memory up to 8 MiB, then disk
MAX_MANIFEST_SIZE = 256 << 20  # the manifest is read whole; refuse absurd sizes
_TAR_BUFSIZE = 64 << 10  # tarfile's "r|" read buffer; much larger makes small reads copy a lot
_GZIP_MAGIC = b"\x1f\x8b"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class ArchiveError(ValueError):
    """The archive (or data given to the writer) is unusable; message says what is wrong."""


@dataclass
class MediaItem:
    """One media file to back up; ``open`` is called only when its turn comes,
    so writing 10,000 images never holds 10,000 open files."""

    name: str
    size: int
    open: Callable[[], BinaryIO]


@dataclass
class ArchiveSummary:
    """What :func:`write_archive` produced; ``sha256`` covers the archive bytes
    exactly as written, so it can be stored out-of-band and checked later."""

    manifest: dict
    records: int
    media: int
    bytes_written: int
    sha256: str


# --------------------------------------------------------------------------
# Shape checks shared by writer and reader
# --------------------------------------------------------------------------


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _is_sorted_set(value: Any) -> bool:
    return _is_str_list(value) and all(a < b for a, b in zip(value, value[1:], strict=False))


def _is_score(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _is_zset(value: Any) -> bool:
    if not isinstance(value, list):
        return False
    pairs_ok = all(
        isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) and _is_score(p[1])
        for p in value
    )
    return pairs_ok and len({p[0] for p in value}) == len(value)


_VALUE_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "hash": (_is_str_map, "an object mapping string fields to string values"),
    "set": (_is_sorted_set, "a sorted list of unique strings"),
    "zset": (_is_zset, "a list of [member, score] pairs with unique string members"),
    "list": (_is_str_list, "a list of strings"),
}


def _record_problem(record: Any) -> str | None:
    """Describe what is wrong with a record's shape, or None if it is valid."""
    if not isinstance(record, dict):
        return "is not a JSON object"
    if set(record) != RECORD_FIELDS:
        return f"must have exactly the fields {sorted(RECORD_FIELDS)}, has {sorted(record)}"
    if not isinstance(record["key"], str) or not record["key"]:
        return "key must be a non-empty string"
    rtype = record["type"]
    if rtype not in _VALUE_CHECKS:
        return f"unknown type {rtype!r} (expected one of {', '.join(RECORD_TYPES)})"
    check, expected = _VALUE_CHECKS[rtype]
    if not check(record["value"]):
        return f"value of {rtype} key {record['key']!r} must be {expected}"
    ttl = record["ttl_ms"]
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
        return f"ttl_ms must be null or an integer >= 0, got {ttl!r}"
    return None


def _media_name_problem(name: Any) -> str | None:
    """Refuse names that could escape the media root when restored."""
    if not isinstance(name, str) or not name:
        return "media name must be a non-empty string"
    if name.startswith("/") or "\\" in name or "\0" in name:
        return f"unsafe media name {name!r}"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return f"unsafe media name {name!r}"
    return None


# --------------------------------------------------------------------------
# Stream helpers
# --------------------------------------------------------------------------


class _HashingWriter:
    """Counts and hashes every byte on its way to ``out``, in ~1 MiB writes
    (few, large writes suit pipes feeding multipart uploads)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._buf = bytearray()
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._buf += data
        if len(self._buf) >= COPY_BUFSIZE:
            self._flush_buffer()
        return len(data)

    def flush(self) -> None:
        self._flush_buffer()
        if hasattr(self._out, "flush"):
            self._out.flush()

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


class _HashingReader(io.RawIOBase):
    """Hashes and counts bytes as a consumer reads them, so data is never held
    whole. ``read(n)`` returns n bytes unless the source is exhausted (tarfile
    treats a short read as end of data). ``guard`` translates errors of the
    underlying source; ``expected`` turns a premature end into an ArchiveError."""

    def __init__(
        self,
        raw: BinaryIO,
        *,
        guard: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
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


class _GunzipReader:
    """Decompresses the gzip stream on demand and insists it is complete.

    tarfile's own ``r|gz`` ignores the gzip trailer, so a stream cut inside the
    tar end-of-archive padding would pass; here any truncation, CRC error or
    trailing garbage raises ArchiveError. Output is bounded per call
    (``max_length``), so a decompression bomb cannot exhaust memory.
    """

    def __init__(self, inp: BinaryIO) -> None:
        self._inp = inp
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._buf = bytearray()
        self._started = False
        self.delivered = 0
        # tarfile reads ahead (< _TAR_BUFSIZE); keep the last chunks handed out
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
        if not self._started and data and not _GZIP_MAGIC.startswith(data[:2]):
            raise ArchiveError("not a blog backup: not a gzip-compressed file")
        self._started = self._started or bool(data)
        return data


@contextlib.contextmanager
def _guard() -> Iterator[None]:
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


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def _utc_timestamp(created_at: datetime | None) -> datetime:
    if created_at is None:
        return datetime.now(UTC).replace(microsecond=0)
    if created_at.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return created_at.astimezone(UTC)


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    return info


def _add_member(tar: tarfile.TarFile, info: tarfile.TarInfo, fileobj: BinaryIO) -> None:
    """addfile, then forget the TarInfo: tarfile keeps every member in a list,
    which would grow with the number of media files."""
    tar.addfile(info, fileobj)
    tar.members.clear()


def _normalise_record(record: Any) -> Any:
    """Accept convenient Python shapes (set, tuples, missing ttl_ms) from callers
    and turn them into the canonical JSON shape checked by the reader."""
    if not isinstance(record, dict):
        return record
    out = {k: record[k] for k in ("key", "type", "value") if k in record}
    out["ttl_ms"] = record.get("ttl_ms")
    out.update((k, v) for k, v in record.items() if k not in out)
    value = out.get("value")
    if out.get("type") == "set" and isinstance(value, (set, frozenset, list, tuple)):
        if all(isinstance(v, str) for v in value):
            out["value"] = sorted(set(value))
    elif out.get("type") == "zset" and isinstance(value, (list, tuple)):
        out["value"] = [list(p) if isinstance(p, tuple) else p for p in value]
    elif out.get("type") == "list" and isinstance(value, tuple):
        out["value"] = list(value)
    return out


def _encode_record(record: Any, number: int) -> bytes:
    record = _normalise_record(record)
    problem = _record_problem(record)
    if problem:
        raise ArchiveError(f"record {number}: {problem}")
    try:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8") + b"\n"
    except (UnicodeEncodeError, ValueError) as exc:
        raise ArchiveError(f"record {number}: cannot be encoded as UTF-8 JSON ({exc})") from exc


def _add_records(tar: tarfile.TarFile, records: Iterable[dict], mtime: int) -> tuple[int, dict]:
    """Spool data.jsonl (tar needs its size first), hashing as it is written."""
    sha, size, count, pending = hashlib.sha256(), 0, 0, bytearray()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_SIZE) as spool:
        for count, record in enumerate(records, 1):
            pending += _encode_record(record, count)
            if len(pending) >= COPY_BUFSIZE:
                sha.update(pending)
                size += spool.write(pending)
                pending.clear()
        sha.update(pending)
        size += spool.write(pending)
        spool.seek(0)
        _add_member(tar, _tarinfo(DATA_MEMBER, size, mtime), spool)
    return count, {"sha256": sha.hexdigest(), "size": size}


def _add_media_item(tar: tarfile.TarFile, item: MediaItem, mtime: int) -> dict:
    """Stream one file into the tar, hashing while tarfile copies it."""
    name = MEDIA_PREFIX + item.name
    if isinstance(item.size, bool) or not isinstance(item.size, int) or item.size < 0:
        raise ArchiveError(f"media {item.name}: invalid size {item.size!r}")
    with item.open() as raw:
        reader = _HashingReader(raw, expected=item.size, label=f"media {item.name}")
        _add_member(tar, _tarinfo(name, item.size, mtime), reader)
        if reader.has_more():
            raise ArchiveError(
                f"media {item.name}: source is larger than its declared size {item.size}"
            )
    return {"sha256": reader.hexdigest(), "size": reader.size}


def _add_media(tar: tarfile.TarFile, media: Iterable[MediaItem], mtime: int) -> dict:
    entries: dict[str, dict] = {}
    for item in media:
        problem = _media_name_problem(item.name)
        if problem:
            raise ArchiveError(problem)
        if MEDIA_PREFIX + item.name in entries:
            raise ArchiveError(f"duplicate media item {item.name!r}")
        entries[MEDIA_PREFIX + item.name] = _add_media_item(tar, item, mtime)
    return entries


def _build_manifest(
    created: datetime, app_version: str, key_prefix: str, counts: dict, members: dict
) -> dict:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "app_version": app_version,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "key_prefix": key_prefix,
        "counts": dict(counts),
        "members": members,
    }


def _open_tar_writer(gz: gzip.GzipFile) -> tarfile.TarFile:
    """Plain "w" mode on top of GzipFile is a pure forward stream too: TarFile only
    calls write() and tell() (GzipFile refuses backward seeks, the sink has no seek
    at all), and it skips the "w|" re-buffering layer, whose copies cost ~40% more
    time with many small media files."""
    return tarfile.open(
        fileobj=gz,
        mode="w",
        format=tarfile.PAX_FORMAT,
        encoding="utf-8",
        copybufsize=COPY_BUFSIZE,
    )


def write_archive(
    out: BinaryIO,
    records: Iterable[dict],
    media: Iterable[MediaItem],
    *,
    app_version: str,
    key_prefix: str,
    counts: dict,
    created_at: datetime | None = None,
    compresslevel: int = 6,
) -> ArchiveSummary:
    """Write one backup archive to ``out`` in a single streaming pass.

    ``out`` is any writable binary stream (e.g. the write end of a pipe feeding
    an S3 multipart upload); it is flushed but not closed. Memory stays bounded
    regardless of data size. If this raises, what was written is not a valid
    archive (no manifest): discard it / abort the upload.
    """
    created = _utc_timestamp(created_at)
    mtime = int(created.timestamp())
    sink = _HashingWriter(out)
    # tarfile's own "w|gz" hardcodes level 9 before Python 3.12; GzipFile lets the
    # caller pick (6 is ~2x faster than 9 and images hardly compress anyway).
    with (
        gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=compresslevel, mtime=mtime) as gz,
        _open_tar_writer(gz) as tar,
    ):
        n_records, data_entry = _add_records(tar, records, mtime)
        members = {DATA_MEMBER: data_entry, **_add_media(tar, media, mtime)}
        manifest = _build_manifest(created, app_version, key_prefix, counts, members)
        body = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
        _add_member(tar, _tarinfo(MANIFEST_MEMBER, len(body), mtime), io.BytesIO(body))
    sink.flush()
    return ArchiveSummary(
        manifest=manifest,
        records=n_records,
        media=len(members) - 1,
        bytes_written=sink.size,
        sha256=sink.sha.hexdigest(),
    )


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------


@dataclass
class _ReadState:
    """What the reader has seen so far, to check against the manifest at the end."""

    seen: dict[str, dict] = field(default_factory=dict)
    manifest: Any = None
    have_manifest: bool = False

    def admit(self, member: tarfile.TarInfo) -> None:
        """Enforce member order, names and types before touching the data."""
        name = member.name
        if self.have_manifest:
            raise ArchiveError(f"unexpected member {name} after {MANIFEST_MEMBER}")
        if not self.seen and name != DATA_MEMBER:
            raise ArchiveError(
                f"not a blog backup: first member is {name!r}, expected {DATA_MEMBER}"
            )
        if name in self.seen:
            raise ArchiveError(f"duplicate member {name}")
        if name not in (DATA_MEMBER, MANIFEST_MEMBER) and not _is_media_member(name):
            raise ArchiveError(f"unexpected member {name!r}")
        if not member.isreg():
            raise ArchiveError(f"member {name}: not a regular file")


def _is_media_member(name: str) -> bool:
    key = name[len(MEDIA_PREFIX) :]
    return name.startswith(MEDIA_PREFIX) and _media_name_problem(key) is None


def _iter_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        with _guard():
            member = tar.next()
        if member is None:
            return
        tar.members.clear()  # stream mode needs no history; keep memory flat
        yield member


def _parse_record(raw: bytes, number: int) -> dict:
    where = f"record {number} of {DATA_MEMBER}"
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{where} is not valid UTF-8") from exc
    except ValueError as exc:
        raise ArchiveError(f"{where} is not valid JSON") from exc
    problem = _record_problem(record)
    if problem:
        raise ArchiveError(f"{where}: {problem}")
    return record


def _read_records(stream: _HashingReader, on_record: Callable[[dict], None] | None) -> None:
    lines = io.BufferedReader(stream, buffer_size=COPY_BUFSIZE)
    for number, raw in enumerate(lines, 1):
        record = _parse_record(raw, number)
        if on_record is not None:
            on_record(record)


def _read_manifest(stream: _HashingReader, member: tarfile.TarInfo) -> Any:
    if member.size > MAX_MANIFEST_SIZE:
        raise ArchiveError(f"{MANIFEST_MEMBER} is implausibly large ({member.size} bytes)")
    try:
        return json.loads(stream.read().decode("utf-8"))
    except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
        raise ArchiveError(f"{MANIFEST_MEMBER} is not valid JSON") from exc


def _read_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    state: _ReadState,
    on_record: Callable[[dict], None] | None,
    on_media: Callable[[str, BinaryIO], None] | None,
) -> None:
    state.admit(member)
    with _guard():
        fileobj = tar.extractfile(member)
    stream = _HashingReader(fileobj, guard=_guard)
    if member.name == MANIFEST_MEMBER:
        state.manifest, state.have_manifest = _read_manifest(stream, member), True
        return
    if member.name == DATA_MEMBER:
        _read_records(stream, on_record)
    elif on_media is not None:
        on_media(member.name[len(MEDIA_PREFIX) :], stream)
    stream.drain()
    state.seen[member.name] = {"sha256": stream.hexdigest(), "size": stream.size}


def _check_manifest_fields(manifest: Any) -> dict:
    """Refuse foreign or future archives before comparing members."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(
            f"not a blog backup: {MANIFEST_MEMBER} does not declare format {FORMAT!r}"
        )
    version = manifest.get("format_version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ArchiveError(f"unsupported format_version {version!r}")
    for key, kind in (
        ("app_version", str),
        ("created_at", str),
        ("key_prefix", str),
        ("counts", dict),
        ("members", dict),
    ):
        if not isinstance(manifest.get(key), kind):
            raise ArchiveError(f"{MANIFEST_MEMBER}: {key!r} is missing or not a {kind.__name__}")
    try:
        datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArchiveError(f"{MANIFEST_MEMBER}: created_at is not an ISO-8601 timestamp") from exc
    for name, entry in manifest["members"].items():
        if not _is_member_entry(entry):
            raise ArchiveError(f"{MANIFEST_MEMBER}: entry for {name} is malformed")
    return manifest


def _is_member_entry(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and _SHA256_RE.fullmatch(entry["sha256"]) is not None
        and isinstance(entry.get("size"), int)
        and not isinstance(entry["size"], bool)
        and entry["size"] >= 0
    )


def _compare_members(seen: dict[str, dict], listed: dict[str, dict]) -> None:
    for name, actual in seen.items():
        expected = listed.get(name)
        if expected is None:
            raise ArchiveError(f"member {name} is not listed in {MANIFEST_MEMBER}")
        if expected["size"] != actual["size"]:
            raise ArchiveError(
                f"member {name}: size mismatch ({MANIFEST_MEMBER} says {expected['size']} "
                f"bytes, archive has {actual['size']})"
            )
        if expected["sha256"] != actual["sha256"]:
            raise ArchiveError(f"member {name}: checksum mismatch")
    for name in listed:
        if name not in seen:
            raise ArchiveError(
                f"member {name} listed in {MANIFEST_MEMBER} is missing from the archive"
            )


def _finish(state: _ReadState) -> dict:
    if not state.seen and not state.have_manifest:
        raise ArchiveError("not a blog backup: the tar archive is empty")
    if not state.have_manifest:
        raise ArchiveError(f"{MANIFEST_MEMBER} is missing (archive is incomplete)")
    manifest = _check_manifest_fields(state.manifest)
    _compare_members(state.seen, manifest["members"])
    return manifest


def _open_tar(gz: _GunzipReader) -> tarfile.TarFile:
    with _guard():
        try:
            return tarfile.open(fileobj=gz, mode="r|", bufsize=_TAR_BUFSIZE, encoding="utf-8")
        except tarfile.ReadError as exc:
            raise ArchiveError(f"not a blog backup: not a tar archive ({exc})") from exc


def read_archive(
    inp: BinaryIO,
    *,
    on_record: Callable[[dict], None] | None = None,
    on_media: Callable[[str, BinaryIO], None] | None = None,
) -> dict:
    """Stream through an archive, verifying everything; return its manifest.

    ``on_record(record)`` gets each data.jsonl record (canonical JSON shape);
    ``on_media(storage_key, stream)`` gets each media file as a stream to read
    (not buffered whole); unread bytes are drained and hashed afterwards.
    Callbacks run BEFORE verification completes (the manifest is last): call
    :func:`verify_archive` first and only then this with callbacks. Raises
    ArchiveError for any problem; callback exceptions propagate unchanged.
    """
    gz = _GunzipReader(inp)
    state = _ReadState()
    with _open_tar(gz) as tar:
        for member in _iter_members(tar):
            _read_member(tar, member, state, on_record, on_media)
    with _guard():
        gz.finish(tar.offset)
    return _finish(state)


def verify_archive(inp: BinaryIO) -> dict:
    """Pass 1 of a restore: check the whole archive, write nothing, return the manifest."""
    return read_archive(inp)
