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

from .format import (
    DATA_MEMBER,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_MEMBER,
    MEDIA_PREFIX,
    ArchiveError,
    ArchiveSummary,
    MediaItem,
)
from .reader import read_archive, verify_archive
from .writer import write_archive

__all__ = [
    "DATA_MEMBER",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_MEMBER",
    "MEDIA_PREFIX",
    "ArchiveError",
    "ArchiveSummary",
    "MediaItem",
    "read_archive",
    "verify_archive",
    "write_archive",
]
