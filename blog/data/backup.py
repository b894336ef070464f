"""Logical export and import of the blog's Redis data, and the rebuild of derived indexes.

This is the only code that knows which keys are *entities* (the data itself: exported)
and which are *derived indexes* (recomputed from the entities by :func:`reindex`, never
exported). docs/backup.md says what that buys; in short:

* SCAN is not a point-in-time snapshot, so the export reads each entity in one atomic
  step: a post together with its tags, slugs, comment lists and the comments in those
  lists (one Lua script per post, many per round trip); an author, an image or any
  other key with one command. An entity written during the export is either in the
  archive whole, as it was at one moment, or not at all.
* Indexes that span entities (`posts:published`, `tag:*`, `tags`, `slugs`, `users`,
  `user:<id>:posts|pending|images`) cannot be read consistently with those entities
  while writers run, so they are not exported: a restore rebuilds them, which makes
  them agree with the restored entities by construction.
* The id counters (`ids:*`) are read last, so each is >= every exported id.
* `rate:*` (ephemeral) and `backup:*` (this feature's own bookkeeping) are excluded.
  Any other key under the prefix is exported and restored as it is (type, value, TTL).

Records have the shape of processing/archive.py: {"key" (without the prefix), "type",
"value", "ttl_ms"}.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import redis

from .keys import Keys

# ---- which key is what --------------------------------------------------------------

POST = "post"  # post:<id> - read as a group with its parts and comments
POST_PART = "post-part"  # post:<id>:tags|slugs|comments|pending - inside the post group
COMMENT = "comment"  # comment:<id> - inside its post's group
USER = "user"
IMAGE = "image"
COUNTER = "counter"  # ids:<entity> - exported last
DERIVED = "derived"  # rebuilt by reindex(), never exported
EXCLUDED = "excluded"  # rate:*, backup:*, create:*, cache:version|changed-at: not backed up
OTHER = "other"  # unknown keys: exported and restored as they are

_PATTERNS = [
    (re.compile(r"post:\d+"), POST),
    (re.compile(r"post:\d+:(tags|slugs|comments|pending)"), POST_PART),
    (re.compile(r"comment:\d+"), COMMENT),
    (re.compile(r"user:\d+"), USER),
    (re.compile(r"user:\d+:(posts|pending|images)"), DERIVED),
    (re.compile(r"image:[^:]+"), IMAGE),
    (re.compile(r"ids:[^:]+"), COUNTER),
    (re.compile(r"posts:published|slugs|tags|users|tag:.*", re.S), DERIVED),
    (re.compile(r"(rate|backup|create):.*|cache:(version|changed-at)", re.S), EXCLUDED),
]
# Counters that must be in every backup even if SCAN missed a key created meanwhile.
KNOWN_COUNTERS = ("ids:post", "ids:comment", "ids:user")

INTERRUPTED_BY_RESTORE = (
    "Interrupted by a restore: the upload was still being "
    "processed when the backup was made. Please upload it again."
)
MEDIA_MISSING_ERROR = (
    "The image's files were missing when the backup was made. Please upload it again."
)
MEDIA_MISSING_FLAG = "backup_media_missing"


def classify(name: str) -> str:
    """What a key (without the app prefix) is, for backup purposes."""
    for pattern, kind in _PATTERNS:
        if pattern.fullmatch(name):
            return kind
    return OTHER


def _glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def scan_app_keys(r: redis.Redis, prefix: str, count: int = 1000) -> Iterator[str]:
    """Every key under the prefix, without the prefix (SCAN may repeat a key)."""
    for key in r.scan_iter(match=_glob_escape(prefix) + "*", count=count):
        yield key[len(prefix) :]


def image_media_keys(fields: dict[str, str]) -> list[str]:
    """Storage keys of a ready image's files: the cleaned original and its variants."""
    image_id, ext = fields.get("id", ""), fields.get("ext", "")
    try:
        names = [v["name"] for v in json.loads(fields.get("variants") or "[]")]
    except (ValueError, TypeError, KeyError):
        names = []
    names = ["original", *[n for n in names if n != "original"]]
    return [f"images/{image_id}/{name}.{ext}" for name in names]


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


def _pairs(flat: list | dict) -> list[tuple[str, str]]:
    flat = flat or []  # cjson encodes an empty Lua table as {}
    return list(zip(flat[0::2], flat[1::2], strict=True))


def _zset(flat: list) -> list[list]:
    return [[member, float(score)] for member, score in _pairs(flat)]


def _value(rtype: str, raw):
    if rtype == "hash":
        return dict(_pairs(raw))
    if rtype == "set":
        return sorted(raw or [])
    if rtype == "zset":
        return _zset(raw)
    if rtype == "list":
        return raw or []
    return raw  # string


def _record(key: str, rtype: str, value, ttl_ms: int | None = None) -> dict:
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
        self._post_group = self.r.register_script(_POST_GROUP)
        self._one_key = self.r.register_script(_ONE_KEY)

    @property
    def prefix(self) -> str:
        return self.keys.prefix

    def records(self) -> Iterator[dict]:
        seen: set[str] = set()
        counters: set[str] = set(KNOWN_COUNTERS)
        batch: list[tuple[str, str]] = []
        for name in scan_app_keys(self.r, self.prefix):
            kind = classify(name)
            if kind == COUNTER:
                counters.add(name)
                continue
            if kind not in (POST, USER, IMAGE, OTHER) or name in seen:
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
        p = self.prefix
        pipe = self.r.pipeline(transaction=False)
        for kind, name in batch:
            if kind == POST:
                post_key = p + name
                self._post_group(
                    keys=[
                        post_key,
                        post_key + ":tags",
                        post_key + ":slugs",
                        post_key + ":comments",
                        post_key + ":pending",
                    ],
                    args=[p + "comment:"],
                    client=pipe,
                )
            else:
                self._one_key(keys=[p + name], client=pipe)
        for (kind, name), body in zip(batch, pipe.execute(), strict=True):
            reply = json.loads(body) if body else None
            if kind == POST:
                yield from self._post_records(name, reply)
            else:
                record = self._key_record(name, reply)
                if record is None:
                    continue
                if kind == IMAGE and record["type"] == "hash":
                    self._image(record)
                elif kind == USER:
                    self.counts.users += 1
                else:
                    self.counts.other_keys += 1
                yield self._emit(record)

    def _post_records(self, name: str, reply) -> Iterator[dict]:
        if not reply:
            return  # deleted after SCAN saw it: not in this backup
        post, tags, slugs, approved, pending, comments = (part or [] for part in reply)
        self.counts.posts += 1
        yield self._emit(_record(name, "hash", dict(_pairs(post))))
        for suffix, rtype, raw in (
            (":tags", "set", tags),
            (":slugs", "set", slugs),
            (":comments", "zset", approved),
            (":pending", "zset", pending),
        ):
            if raw:
                yield self._emit(_record(name + suffix, rtype, _value(rtype, raw)))
        members = [m for m, _ in _pairs(approved)] + [m for m, _ in _pairs(pending)]
        for comment_id, fields in zip(members, comments, strict=True):
            if fields:  # a listed comment without its hash is skipped, never invented
                self.counts.comments += 1
                yield self._emit(_record(f"comment:{comment_id}", "hash", dict(_pairs(fields))))

    def _key_record(self, name: str, reply) -> dict | None:
        rtype = reply[0]
        if rtype == "none":
            return None  # deleted after SCAN saw it
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
        kind = classify(name)
        if kind in (DERIVED, EXCLUDED) or (rtype != "string" and not value):
            self.counts.skipped_keys += 1  # derived, excluded, or empty (Redis keeps none)
            return
        if kind == IMAGE and rtype == "hash":
            value = self._image(value)
        self._count(kind, name)
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

    def _count(self, kind: str, name: str) -> None:
        if kind == POST:
            self.counts.posts += 1
        elif kind == COMMENT:
            self.counts.comments += 1
        elif kind == USER:
            self.counts.users += 1
        elif kind == IMAGE:
            self.counts.images += 1
        elif kind == OTHER:
            self.counts.other_keys += 1
        if kind in (POST, COMMENT, USER):
            entity, _, number = name.partition(":")
            self._max_ids[entity] = max(self._max_ids[entity], int(number))

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


# ---- derived indexes ------------------------------------------------------------------


def reindex(r: redis.Redis, keys: Keys, batch_size: int = 500) -> dict[str, int]:
    """Recompute every derived index from the entities, replacing what is there.

    Scores follow the writers: `posts:published` and `tag:<name>` by publish time (drafts
    excluded), `tags` = tags with at least one published or scheduled post, `slugs` from
    each post's slug set, `user:<id>:posts` by the post's last edit, `user:<id>:pending`
    by comment time (the post's pending list), `users` from author hashes,
    `user:<id>:images` by upload time. The new indexes replace the old in one MULTI/EXEC.
    Meant for a restore (no concurrent writers); memory grows with the number of posts.
    """
    posts, users, images, derived = [], [], [], set()
    for name in scan_app_keys(r, keys.prefix):
        kind = classify(name)
        if kind == POST:
            posts.append(int(name.split(":")[1]))
        elif kind == USER:
            users.append(int(name.split(":")[1]))
        elif kind == IMAGE:
            images.append(name.split(":", 1)[1])
        elif kind == DERIVED:
            derived.add(keys.prefix + name)

    published: dict[str, float] = {}
    tag_index: dict[str, dict[str, float]] = defaultdict(dict)
    slugs: dict[str, str] = {}
    user_posts: dict[str, dict[str, float]] = defaultdict(dict)
    user_pending: dict[str, dict[str, float]] = defaultdict(dict)
    for chunk in _chunks(sorted(set(posts)), batch_size):
        pipe = r.pipeline(transaction=False)
        for post_id in chunk:
            pipe.hmget(keys.post(post_id), "author_id", "status", "published_at", "updated_at")
            pipe.smembers(keys.post_tags(post_id))
            pipe.smembers(keys.post_slugs(post_id))
            pipe.zrange(keys.post_pending(post_id), 0, -1, withscores=True)
        replies = pipe.execute()
        for i, post_id in enumerate(chunk):
            (author_id, status, published_at, updated_at), tags, post_slugs, pending = replies[
                4 * i : 4 * i + 4
            ]
            if author_id is None:
                continue
            member = str(post_id)
            user_posts[author_id][member] = float(updated_at)
            if status != "draft":
                published[member] = float(published_at)
                for tag in tags:
                    tag_index[tag][member] = float(published_at)
            for slug in post_slugs:
                slugs[slug] = member
            for comment_id, score in pending:
                user_pending[author_id][comment_id] = score

    usernames: dict[str, str] = {}
    user_images: dict[str, dict[str, float]] = defaultdict(dict)
    for chunk in _chunks(sorted(set(users)), batch_size):
        pipe = r.pipeline(transaction=False)
        for user_id in chunk:
            pipe.hget(keys.user(user_id), "username")
        for user_id, username in zip(chunk, pipe.execute(), strict=True):
            if username is not None:
                usernames[username] = str(user_id)
    for chunk in _chunks(sorted(set(images)), batch_size):
        pipe = r.pipeline(transaction=False)
        for image_id in chunk:
            pipe.hmget(keys.image(image_id), "owner_id", "created_at")
        for image_id, (owner_id, created_at) in zip(chunk, pipe.execute(), strict=True):
            if owner_id is not None:
                user_images[owner_id][image_id] = float(created_at)

    with r.pipeline(transaction=True) as pipe:
        if derived:
            pipe.delete(*derived)
        _zadds(pipe, {keys.published: published})
        _zadds(pipe, {keys.tag(t): m for t, m in tag_index.items()})
        if tag_index:
            pipe.sadd(keys.tags, *tag_index)
        if slugs:
            pipe.hset(keys.slugs, mapping=slugs)
        if usernames:
            pipe.hset(keys.usernames, mapping=usernames)
        _zadds(pipe, {keys.user_posts(int(a)): m for a, m in user_posts.items()})
        _zadds(pipe, {keys.author_pending(int(a)): m for a, m in user_pending.items()})
        _zadds(pipe, {keys.user_images(int(o)): m for o, m in user_images.items()})
        pipe.execute()
    return {
        "posts": len(published),
        "tags": len(tag_index),
        "slugs": len(slugs),
        "authors": len(usernames),
    }


def _zadds(pipe, indexes: dict[str, dict[str, float]], chunk: int = 1000) -> None:
    for key, members in indexes.items():
        items = list(members.items())
        for i in range(0, len(items), chunk):
            pipe.zadd(key, dict(items[i : i + chunk]))


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# ---- what is in the store -------------------------------------------------------------


def has_app_data(r: redis.Redis, keys: Keys) -> bool:
    """True when any key other than rate limits and backup bookkeeping exists."""
    return any(classify(name) != EXCLUDED for name in scan_app_keys(r, keys.prefix))


def delete_app_data(r: redis.Redis, keys: Keys, batch_size: int = 500) -> int:
    """Delete every app key except backup bookkeeping (used by `restore --force`)."""
    doomed, deleted = [], 0
    for name in scan_app_keys(r, keys.prefix):
        if not name.startswith("backup:"):
            doomed.append(keys.prefix + name)
        if len(doomed) >= batch_size:
            deleted += r.unlink(*doomed)
            doomed = []
    if doomed:
        deleted += r.unlink(*doomed)
    return deleted


# ---- backup outcomes ------------------------------------------------------------------

RUNS_KEPT = 200
_RELEASE_LOCK = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
_REFRESH_LOCK = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)


class BackupStore:
    """Outcomes of backup runs (`backup:runs`, newest first; `backup:last-good`) and the
    lock that keeps two backups or restores from running at once (`backup:lock`)."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def record(self, outcome: dict) -> None:
        body = json.dumps(outcome, sort_keys=True)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.backup_runs, body)
            pipe.ltrim(self.keys.backup_runs, 0, RUNS_KEPT - 1)
            if outcome.get("ok"):
                pipe.set(self.keys.backup_last_good, body)
            pipe.execute()

    def runs(self, limit: int = 50) -> list[dict]:
        return [json.loads(x) for x in self.r.lrange(self.keys.backup_runs, 0, limit - 1)]

    def last(self) -> dict | None:
        runs = self.runs(1)
        return runs[0] if runs else None

    def last_good(self) -> dict | None:
        body = self.r.get(self.keys.backup_last_good)
        return json.loads(body) if body else None

    def acquire_lock(self, token: str, ttl_seconds: int) -> bool:
        return bool(self.r.set(self.keys.backup_lock, token, nx=True, ex=ttl_seconds))

    def refresh_lock(self, token: str, ttl_seconds: int) -> bool:
        return bool(self.r.eval(_REFRESH_LOCK, 1, self.keys.backup_lock, token, ttl_seconds * 1000))

    def release_lock(self, token: str) -> None:
        self.r.eval(_RELEASE_LOCK, 1, self.keys.backup_lock, token)
