"""The archive format's names and limits, its errors and record shapes (shared)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

FORMAT = "blog-backup"
FORMAT_VERSION = 2
# Versions this reader restores: 1 (everything deflated; archives written before
# per-member compression) and 2 (per-member compression recorded in the manifest).
READABLE_VERSIONS = (1, 2)
COMPRESSIONS = ("deflate", "stored")
# Media the writer stores without deflating: these formats are compressed already.
STORED_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")
DATA_MEMBER = "data.jsonl"
MANIFEST_MEMBER = "manifest.json"
MEDIA_PREFIX = "media/"
RECORD_TYPES = ("string", "hash", "set", "zset", "list")
RECORD_FIELDS = frozenset({"key", "type", "value", "ttl_ms"})

COPY_BUFSIZE = 1 << 20  # 1 MiB: few Python-level calls per byte, bounded memory
SPOOL_MAX_SIZE = 8 << 20  # data.jsonl stays in memory up to 8 MiB, then disk
MAX_MANIFEST_SIZE = 256 << 20  # the manifest is read whole; refuse absurd sizes
TAR_BUFSIZE = 64 << 10  # tarfile's "r|" read buffer; much larger makes small reads copy a lot
GZIP_MAGIC = b"\x1f\x8b"
SHA256_RE = re.compile(r"[0-9a-f]{64}")


class Readable(Protocol):
    """Any byte source the archive reads: a file, an S3 body, a pipe, another reader."""

    def read(self, size: int = -1, /) -> bytes: ...


class ReadableFile(Readable, Protocol):
    """A byte source the writer opens and closes itself (a media file)."""

    def __enter__(self) -> ReadableFile: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> bool | None: ...


class Writable(Protocol):
    """Any byte sink the archive is written to: a file, a pipe, a multipart upload."""

    def write(self, data: bytes | memoryview, /) -> int | None: ...


class ArchiveError(ValueError):
    """The archive (or data given to the writer) is unusable; message says what is wrong."""


@dataclass
class MediaItem:
    """One media file to back up; ``open`` is called only when its turn comes,
    so writing 10,000 images never holds 10,000 open files."""

    name: str
    size: int
    open: Callable[[], ReadableFile]


@dataclass
class ArchiveSummary:
    """What :func:`write_archive` produced; ``sha256`` covers the archive bytes
    exactly as written, so it can be stored out-of-band and checked later."""

    manifest: dict[str, Any]
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


def record_problem(record: Any) -> str | None:
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


def media_name_problem(name: Any) -> str | None:
    """Refuse names that could escape the media root when restored."""
    if not isinstance(name, str) or not name:
        return "media name must be a non-empty string"
    if name.startswith("/") or "\\" in name or "\0" in name:
        return f"unsafe media name {name!r}"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return f"unsafe media name {name!r}"
    return None
