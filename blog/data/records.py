"""The blog's Redis data as archive records, and back: what a backup exports and a
restore imports.

Which keys are what comes from the key schema (`blog/data/keys.py`: entity, derived or
excluded); docs/backup.md says what that buys. In short:

* SCAN is not a point-in-time snapshot, so the export reads each entity in one atomic
  step: a post together with the keys read with it (tags, slugs, comment lists and the
  comments in those lists: one Lua script per post, many per round trip); an author, an
  image or any other key with one command. An entity written during the export is
  either in the archive whole, as it was at one moment, or not at all.
* Derived indexes span entities and cannot be read consistently with them while
  writers run, so they are not exported: a restore rebuilds them (`reindex.py`), which
  makes them agree with the restored entities by construction.
* The id counters (`ids:*`) are read last, so each is >= every exported id.
* Excluded keys are neither exported nor restored. A key no builder makes is exported
  and restored as it is (type, value, TTL).

Records have the shape of processing/archive/format.py: {"key" (without the prefix), "type",
"value", "ttl_ms"}.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis

from .keys import ENTITY, EXCLUDED, KeyFamily, Keys, family_named, family_of
from .models import media_key
from .reindex import reindex, scan_app_keys
from .scripts import Script

INTERRUPTED_BY_RESTORE = (
    "Interrupted by a restore: the upload was still being "
    "processed when the backup was made. Please upload it again."
)
MEDIA_MISSING_ERROR = (
    "The image's files were missing when the backup was made. Please upload it again."
)
MEDIA_MISSING_FLAG = "backup_media_missing"
# The families the post's Lua script (_POST_GROUP) reads with it: exactly those whose
# family says read_with="post" (tests/test_key_schema.py holds the two together).
READ_WITH_POST = frozenset({"post_tags", "post_slugs", "post_comments", "post_pending", "comment"})
# `restore --force` keeps these: the restore's own lock, and the record of past runs.
KEPT_BY_RESTORE = frozenset({"backup_runs", "backup_last_good", "backup_lock"})


def _exported_alone(family: KeyFamily | None) -> bool:
    """Read with one command of its own (not a derived, excluded or post-part key)."""
    return family is None or (family.backup is ENTITY and family.read_with is None)


def image_media_keys(fields: dict[str, str]) -> list[str]:
    """Storage keys of a ready image's files: the cleaned original and its variants."""
    image_id, ext = fields.get("id", ""), fields.get("ext", "")
    try:
        names = [v["name"] for v in json.loads(fields.get("variants") or "[]")]
    except (ValueError, TypeError, KeyError):
        names = []
    names = ["original", *[n for n in names if n != "original"]]
    return [media_key(image_id, name, ext) for name in names]


# ---- export ---------------------------------------------------------------------------

# One post as one atomic read: nothing can change between these commands. The reply is
# one JSON string (Redis's cjson): parsing one bulk string per post instead of a nested
# RESP reply per field makes the export several times faster with redis-py's pure-Python
# parser. Comment hashes are not in KEYS (their ids are only known inside the script);
# fine on a single Redis or Sentinel, which is all RQ supports anyway.
_POST_GROUP = """
local post = redis.call('HGETALL', KEYS[1])
if #post == 0 then return false end
local approved = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
local pending = redis.call('ZRANGE', KEYS[5], 0, -1, 'WITHSCORES')
local comments = {}
for _, list in ipairs({approved, pending}) do
  for i = 1, #list, 2 do
    comments[#comments + 1] = redis.call('HGETALL', ARGV[1] .. list[i])
  end
end
return cjson.encode({post, redis.call('SMEMBERS', KEYS[2]), redis.call('SMEMBERS', KEYS[3]),
                     approved, pending, comments})
"""

# Any single key: type, value and TTL read together (JSON, as above).
_ONE_KEY = """
local t = redis.call('TYPE', KEYS[1])['ok']
local v
if t == 'string' then v = redis.call('GET', KEYS[1])
elseif t == 'hash' then v = redis.call('HGETALL', KEYS[1])
elseif t == 'set' then v = redis.call('SMEMBERS', KEYS[1])
elseif t == 'zset' then v = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
elseif t == 'list' then v = redis.call('LRANGE', KEYS[1], 0, -1)
else return cjson.encode({t}) end
return cjson.encode({t, v, redis.call('PTTL', KEYS[1])})
"""


def _post_id(name: str) -> int:
    (post_id,) = family_named("post").match(name) or ("0",)
    return int(post_id)


def _pairs(flat: list | dict) -> list[tuple[str, str]]:
    flat = flat or []  # cjson encodes an empty Lua table as {}
    return list(zip(flat[0::2], flat[1::2], strict=True))


def _zset(flat: list) -> list[list]:
    return [[member, float(score)] for member, score in _pairs(flat)]


def _value(rtype: str, raw: Any) -> Any:
    """A Lua script's decoded JSON reply in the archive's value encoding."""
    if rtype == "hash":
        return dict(_pairs(raw))
    if rtype == "set":
        return sorted(raw or [])
    if rtype == "zset":
        return _zset(raw)
    if rtype == "list":
        return raw or []
    return raw  # string


def _record(key: str, rtype: str, value: Any, ttl_ms: int | None = None) -> dict:
    return {"key": key, "type": rtype, "value": value, "ttl_ms": ttl_ms}


@dataclass
class ExportCounts:
    posts: int = 0
    comments: int = 0
    users: int = 0
    images: int = 0
    images_processing: int = 0
    images_missing_media: int = 0
    other_keys: int = 0
    unsupported_keys: int = 0
    records: int = 0
    media_files: int = 0
    media_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Exporter:
    """Streams the records of one backup, then knows which media files go with them.

    `media_size(storage_key)` returns a file's size, or None when it is missing.
    `records()` must be consumed before `media_files()` is called. Memory grows with
    the number of keys (ids to skip SCAN's repeats, ~100 bytes each) and of media files
    (key and size), never with the size of posts or images.
    """

    r: redis.Redis
    keys: Keys
    media_size: Callable[[str], int | None]
    batch_size: int = 200
    progress: Callable[[int], None] | None = None
    counts: ExportCounts = field(default_factory=ExportCounts)
    _media: list[tuple[str, int]] = field(default_factory=list)
    _done: bool = False

    def __post_init__(self) -> None:
        self._post_group = Script(self.r, _POST_GROUP)
        self._one_key = Script(self.r, _ONE_KEY)

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    def records(self) -> Iterator[dict]:
        seen: set[str] = set()
        # Counters that must be in every backup even if SCAN missed one created meanwhile.
        counters = {self.keys.name(self.keys.next_id(e)) for e in Keys.ID_ENTITIES}
        batch: list[tuple[str, str]] = []
        for name in scan_app_keys(self.r, self.prefix):
            family = family_of(name)
            kind = family.name if family else ""
            if kind == "next_id":
                counters.add(name)
                continue
            if not _exported_alone(family) or name in seen:
                continue
            seen.add(name)
            batch.append((kind, name))
            if len(batch) >= self.batch_size:
                yield from self._read_batch(batch)
                batch = []
        if batch:
            yield from self._read_batch(batch)
        # Last: every id handed out before this moment is <= its counter.
        yield from self._read_counters(sorted(counters))
        self._done = True
        if self.progress:
            self.progress(self.counts.records)

    def media_files(self) -> list[tuple[str, int]]:
        """(storage key, size) of every file of every ready image that was exported."""
        if not self._done:
            raise RuntimeError("consume records() before asking for media files")
        return list(self._media)

    def _emit(self, record: dict) -> dict:
        self.counts.records += 1
        if self.progress and self.counts.records % 500 == 0:
            self.progress(self.counts.records)
        return record

    def _read_batch(self, batch: list[tuple[str, str]]) -> Iterator[dict]:
        keys = self.keys
        # The script appends comment ids (known only inside it) to this.
        comment_stem = keys.comment(0).removesuffix("0")
        pipe = self.r.pipeline(transaction=False)
        for kind, name in batch:
            if kind == "post":
                post_id = _post_id(name)
                self._post_group(
                    keys=[
                        keys.post(post_id),
                        keys.post_tags(post_id),
                        keys.post_slugs(post_id),
                        keys.post_comments(post_id),
                        keys.post_pending(post_id),
                    ],
                    args=[comment_stem],
                    client=pipe,
                )
            else:
                self._one_key(keys=[self.prefix + name], client=pipe)
        for (kind, name), body in zip(batch, pipe.execute(), strict=True):
            reply = json.loads(body) if body else None
            if kind == "post":
                yield from self._post_records(_post_id(name), reply)
            else:
                record = self._key_record(name, reply)
                if record is None:
                    continue
                if kind == "image" and record["type"] == "hash":
                    if record["value"].get("status") == "deleted":
                        continue  # no post uses it; the cleanup job is deleting it
                    self._image(record)
                elif kind == "user":
                    self.counts.users += 1
                else:
                    self.counts.other_keys += 1
                yield self._emit(record)

    def _post_records(self, post_id: int, reply: list | None) -> Iterator[dict]:
        if not reply:
            return  # deleted after SCAN saw it: not in this backup
        post, tags, slugs, approved, pending, comments = (part or [] for part in reply)
        keys = self.keys
        self.counts.posts += 1
        yield self._emit(_record(keys.name(keys.post(post_id)), "hash", dict(_pairs(post))))
        for key, rtype, raw in (
            (keys.post_tags(post_id), "set", tags),
            (keys.post_slugs(post_id), "set", slugs),
            (keys.post_comments(post_id), "zset", approved),
            (keys.post_pending(post_id), "zset", pending),
        ):
            if raw:
                yield self._emit(_record(keys.name(key), rtype, _value(rtype, raw)))
        members = [m for m, _ in _pairs(approved)] + [m for m, _ in _pairs(pending)]
        for comment_id, fields in zip(members, comments, strict=True):
            if fields:  # a listed comment without its hash is skipped, never invented
                self.counts.comments += 1
                name = keys.name(keys.comment(int(comment_id)))
                yield self._emit(_record(name, "hash", dict(_pairs(fields))))

    def _key_record(self, name: str, reply: list | None) -> dict | None:
        if not reply or reply[0] == "none":
            return None  # deleted after SCAN saw it
        rtype = reply[0]
        if len(reply) == 1:
            self.counts.unsupported_keys += 1  # a stream or module type: not exportable
            return None
        ttl = int(reply[2])
        return _record(name, rtype, _value(rtype, reply[1]), ttl if ttl >= 0 else None)

    def _image(self, record: dict) -> None:
        fields = record["value"]
        self.counts.images += 1
        status = fields.get("status")
        if status == "processing":
            self.counts.images_processing += 1
        if status != "ready":
            return
        found, missing = [], False
        for key in image_media_keys(fields):
            size = self.media_size(key)
            if size is None:
                missing = True
            else:
                found.append((key, size))
        if missing:
            # Never a record that claims bytes the archive does not hold.
            fields[MEDIA_MISSING_FLAG] = "1"
            self.counts.images_missing_media += 1
        self._media.extend(found)
        self.counts.media_files += len(found)
        self.counts.media_bytes += sum(size for _, size in found)

    def _read_counters(self, names: list[str]) -> Iterator[dict]:
        pipe = self.r.pipeline(transaction=False)
        for name in names:
            pipe.get(self.prefix + name)
        for name, value in zip(names, pipe.execute(), strict=True):
            if value is not None:
                yield self._emit(_record(name, "string", value))


# ---- import ---------------------------------------------------------------------------


@dataclass
class ImportCounts:
    posts: int = 0
    comments: int = 0
    users: int = 0
    images: int = 0
    images_failed_by_restore: int = 0
    other_keys: int = 0
    skipped_keys: int = 0
    records: int = 0
    media_files: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Importer:
    """Writes records into Redis in pipelined batches; `finish()` rebuilds the indexes.

    Derived and excluded keys found in an archive are skipped (reindex() recomputes the
    former). An image still processing at backup time, or whose files were missing,
    becomes failed with a message: its bytes are not in the archive.
    """

    def __init__(self, r: redis.Redis, keys: Keys, batch_size: int = 500) -> None:
        self.r = r
        self.keys = keys
        self.batch_size = batch_size
        self.counts = ImportCounts()
        self._pipe = r.pipeline(transaction=False)
        self._pending = 0
        self._max_ids: dict[str, int] = defaultdict(int)

    def add(self, record: dict) -> None:
        name, rtype, value = record["key"], record["type"], record["value"]
        family = family_of(name)
        if (family and family.backup is not ENTITY) or (rtype != "string" and not value):
            self.counts.skipped_keys += 1  # derived, excluded, or empty (Redis keeps none)
            return
        if family and family.name == "image" and rtype == "hash":
            value = self._image(value)
        self._count(family, name)
        key = self.keys.prefix + name
        pipe = self._pipe
        pipe.delete(key)
        if rtype == "string":
            pipe.set(key, value)
        elif rtype == "hash":
            pipe.hset(key, mapping=value)
        elif rtype == "set":
            pipe.sadd(key, *value)
        elif rtype == "zset":
            pipe.zadd(key, {member: score for member, score in value})
        elif rtype == "list":
            pipe.rpush(key, *value)
        if record.get("ttl_ms"):
            pipe.pexpire(key, record["ttl_ms"])
        self.counts.records += 1
        self._pending += 1
        if self._pending >= self.batch_size:
            self.flush()

    def _count(self, family: KeyFamily | None, name: str) -> None:
        if family is None:
            self.counts.other_keys += 1
            return
        counted = {"post": "posts", "comment": "comments", "user": "users", "image": "images"}
        if family.name in counted:
            attribute = counted[family.name]
            setattr(self.counts, attribute, getattr(self.counts, attribute) + 1)
        if family.name in Keys.ID_ENTITIES:
            (number,) = family.match(name) or ("0",)
            self._max_ids[family.name] = max(self._max_ids[family.name], int(number))

    def _image(self, fields: dict[str, str]) -> dict[str, str]:
        fields = dict(fields)
        missing = fields.pop(MEDIA_MISSING_FLAG, None)
        if fields.get("status") == "processing" or missing:
            fields.update(
                status="failed",
                updated_at=repr(time.time()),
                error=INTERRUPTED_BY_RESTORE if not missing else MEDIA_MISSING_ERROR,
            )
            self.counts.images_failed_by_restore += 1
        return fields

    def flush(self) -> None:
        if self._pending:
            self._pipe.execute()
            self._pending = 0

    def finish(self) -> dict[str, int]:
        """Flush, make every counter >= the largest restored id, rebuild the indexes."""
        self.flush()
        pipe = self.r.pipeline(transaction=False)
        for entity, top in self._max_ids.items():
            key = self.keys.next_id(entity)
            # SET ... GET is Redis 6.2+; a tiny Lua max() works everywhere.
            pipe.eval(
                "local v = tonumber(redis.call('GET', KEYS[1]) or '0') "
                "if v < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end",
                1,
                key,
                top,
            )
        pipe.execute()
        return reindex(self.r, self.keys)


# ---- what is in the store -------------------------------------------------------------


def has_app_data(r: redis.Redis, keys: Keys) -> bool:
    """True when any key other than rate limits and backup bookkeeping exists."""
    for name in scan_app_keys(r, keys.prefix):
        family = family_of(name)
        if family is None or family.backup is not EXCLUDED:
            return True
    return False


def delete_app_data(r: redis.Redis, keys: Keys, batch_size: int = 500) -> int:
    """Delete every app key except backup bookkeeping (used by `restore --force`)."""
    doomed, deleted = [], 0
    for name in scan_app_keys(r, keys.prefix):
        family = family_of(name)
        if family is None or family.name not in KEPT_BY_RESTORE:
            doomed.append(keys.prefix + name)
        if len(doomed) >= batch_size:
            deleted += r.unlink(*doomed)
            doomed = []
    if doomed:
        deleted += r.unlink(*doomed)
    return deleted
