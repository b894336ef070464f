"""Posts, their slugs and their tags: every multi-key write runs in one MULTI/EXEC.

Read paths cost a constant number of round trips: one range query for ids, then one
pipelined batch for the records, whatever the number of posts.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import redis
from slugify import slugify

from ..rendering import MEDIA_ID, ImageSizes, excerpt, render_markdown
from .comments import PostGone
from .contentwatch import mark_changed
from .images import ImageStore
from .keys import Keys, split_key
from .models import Page, Post

SLUG_MAX_LENGTH = 80
# Paths under /posts/ that are routes, not posts: a post titled "New" gets "new-2".
RESERVED_SLUGS = frozenset({"new"})
# Listings read these fields only: a body can be 200,000 characters.
SUMMARY_FIELDS = (
    "id",
    "slug",
    "title",
    "excerpt",
    "author_id",
    "author",
    "status",
    "published_at",
    "created_at",
    "updated_at",
)

# Saves a post. KEYS = slugs, posts:published, tags, the author's posts, the content
# version and its time, ids:post, the create's token key. ARGV[1] = JSON (see _save);
# ARGV[2..9] = (head, tail) of a post's key, its tags, its slugs and a tag's key
# (split_key). A create takes its id here, once per token: resent after a cut
# connection, it finds the id it took and writes the same post again, not a second one.
# All reads come before the first write, so a script that fails fails before writing.
# Returns {id, slug}, or nil when an edited post no longer exists.
SAVE_SCRIPT = """
local p = cjson.decode(ARGV[1])
local function key(i, x) return ARGV[i] .. x .. ARGV[i + 1] end
local id = p.id
if id == '' then
  id = redis.call('GET', KEYS[8])
  if not id then
    id = tostring(redis.call('INCR', KEYS[7]))
    redis.call('SET', KEYS[8], id, 'EX', 3600)
  end
elseif redis.call('EXISTS', key(2, id)) == 0 then
  return nil
end
local post, post_tags = key(2, id), key(4, id)
local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end
-- the first of base, base-2, base-3... that is free or already this post's
local slug = p.keep
if slug == '' then
  local reserved, n = set_of(p.reserved), 1
  slug = p.base
  while true do
    if not reserved[slug] then
      local owner = redis.call('HGET', KEYS[1], slug)
      if not owner or owner == id then break end
    end
    n = n + 1
    slug = p.base .. '-' .. n
  end
end
local new_tags = set_of(p.tags)
local leaving, removable = {}, {}
for _, tag in ipairs(redis.call('SMEMBERS', post_tags)) do
  if not p.visible or not new_tags[tag] then
    table.insert(leaving, tag)
    -- a tag whose only visible post is this one leaves the tag index
    local tag_key = key(8, tag)
    if redis.call('ZCARD', tag_key) <= 1 and redis.call('ZSCORE', tag_key, id) then
      table.insert(removable, tag)
    end
  end
end
local f = p.fields
local mapping = {'id', id, 'slug', slug}
for name, value in pairs(f) do
  table.insert(mapping, name)
  table.insert(mapping, value)
end
redis.call('HSET', post, unpack(mapping))
redis.call('HSET', KEYS[1], slug, id)
redis.call('SADD', key(6, id), slug)
redis.call('DEL', post_tags)
if #p.tags > 0 then redis.call('SADD', post_tags, unpack(p.tags)) end
redis.call('ZADD', KEYS[4], p.now, id)
redis.call('INCR', KEYS[5])  -- contentwatch.mark_changed, inside the script
redis.call('SET', KEYS[6], p.now)
if p.visible then
  redis.call('ZADD', KEYS[2], f.published_at, id)
  for _, tag in ipairs(p.tags) do redis.call('ZADD', key(8, tag), f.published_at, id) end
  if #p.tags > 0 then redis.call('SADD', KEYS[3], unpack(p.tags)) end
else
  redis.call('ZREM', KEYS[2], id)
end
for _, tag in ipairs(leaving) do redis.call('ZREM', key(8, tag), id) end
if #removable > 0 then redis.call('SREM', KEYS[3], unpack(removable)) end
return {id, slug}
"""

# One page of a listing: KEYS[1] = the index (posts:published or tag:<name>); ARGV = now,
# offset, count, then (head, tail) of the post, tags and comments keys (split_key),
# then the summary fields. Returns {HMGET fields, tags, comment count} per post.
PAGE_SCRIPT = """
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', ARGV[2], ARGV[3])
local function key(i, id) return ARGV[i] .. id .. ARGV[i + 1] end
local fields = {unpack(ARGV, 10)}
local out = {}
for n, id in ipairs(ids) do
  out[n] = {
    redis.call('HMGET', key(4, id), unpack(fields)),
    redis.call('SMEMBERS', key(6, id)),
    redis.call('ZCARD', key(8, id)),
  }
end
return out
"""


@dataclass(frozen=True)
class PostInput:
    """What an author submits; validated by the form before it gets here."""

    title: str
    body: str
    tags: list[str]
    status: str
    publish_at: float | None = None  # required for "scheduled"


class PostStore:
    def __init__(self, r: redis.Redis, keys: Keys, images: ImageStore) -> None:
        self.r = r
        self.keys = keys
        self.images = images
        self._save_script = r.register_script(SAVE_SCRIPT)
        self._save_keys = [
            part
            for builder in (keys.post, keys.post_tags, keys.post_slugs, keys.tag)
            for part in split_key(builder)
        ]
        self._page_script = r.register_script(PAGE_SCRIPT)
        self._summary_keys = [
            part
            for builder in (keys.post, keys.post_tags, keys.post_comments)
            for part in split_key(builder)
        ]
        # Called with the post id after every committed write (the app enqueues the
        # search indexing job here); the data layer itself knows nothing of queues.
        self.after_write: list[Callable[[int], object]] = []

    # ---- reads ---------------------------------------------------------------

    def page(self, number: int, per_page: int, tag: str | None = None) -> Page:
        """Visible posts, newest first; 1 round trip (PAGE_SCRIPT), whatever the size."""
        index = self.keys.tag(tag) if tag else self.keys.published
        start = (number - 1) * per_page
        replies = cast(
            "list[list]",
            self._page_script(
                keys=[index],
                args=[time.time(), start, per_page + 1, *self._summary_keys, *SUMMARY_FIELDS],
            ),
        )
        posts = [
            Post.from_hash(dict(zip(SUMMARY_FIELDS, fields, strict=True)), tags, int(comments))
            for fields, tags, comments in replies[:per_page]
            if fields[0]  # an id can outlive its post for a moment (a delete after the range)
        ]
        return Page(items=posts, number=number, has_next=len(replies) > per_page)

    def newest(self, count: int, tag: str | None = None) -> list[Post]:
        """Full posts (with HTML) for feeds; 2 round trips."""
        index = self.keys.tag(tag) if tag else self.keys.published
        ids = cast(
            "list[str]", self.r.zrevrangebyscore(index, time.time(), "-inf", start=0, num=count)
        )
        return self._load_many([int(i) for i in ids])

    def all_visible(self) -> list[tuple[str, float]]:
        """(slug, updated_at) of every visible post, for the sitemap; 2 round trips."""
        ids = cast("list[str]", self.r.zrevrangebyscore(self.keys.published, time.time(), "-inf"))
        pipe = self.r.pipeline(transaction=False)
        for post_id in ids:
            pipe.hmget(self.keys.post(int(post_id)), "slug", "updated_at")
        return [(slug, float(updated)) for slug, updated in pipe.execute() if slug]

    def by_author(self, author_id: int) -> list[Post]:
        """All of an author's posts, drafts included, most recently edited first."""
        ids = cast("list[str]", self.r.zrevrange(self.keys.user_posts(author_id), 0, -1))
        return self._load_many([int(i) for i in ids], full=False)

    def get(self, post_id: int) -> Post | None:
        posts = self._load_many([post_id])
        return posts[0] if posts else None

    def get_many(self, ids: list[int]) -> list[Post]:
        """Full posts in the order of `ids`, missing ones left out; 1 round trip."""
        return self._load_many(ids)

    def id_for_slug(self, slug: str) -> int | None:
        post_id = self.r.hget(self.keys.slugs, slug)
        return int(post_id) if post_id else None

    def tag_counts(self) -> list[tuple[str, int]]:
        """Tags with their number of visible posts, most used first; 2 round trips."""
        names = sorted(cast("set[str]", self.r.smembers(self.keys.tags)))
        pipe = self.r.pipeline(transaction=False)
        now = time.time()
        for name in names:
            pipe.zcount(self.keys.tag(name), "-inf", now)
        counts = [(n, c) for n, c in zip(names, pipe.execute(), strict=True) if c]
        return sorted(counts, key=lambda item: (-item[1], item[0]))

    def _load_many(self, ids: list[int], full: bool = True) -> list[Post]:
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for post_id in ids:
            if full:
                pipe.hgetall(self.keys.post(post_id))
            else:
                pipe.hmget(self.keys.post(post_id), SUMMARY_FIELDS)
            pipe.smembers(self.keys.post_tags(post_id))
            pipe.zcard(self.keys.post_comments(post_id))
        replies = pipe.execute()
        posts = []
        for i in range(0, len(replies), 3):
            fields, tags, comments = replies[i : i + 3]
            if not full:
                fields = dict(zip(SUMMARY_FIELDS, fields, strict=True)) if fields[0] else {}
            if fields:  # an id can outlive its post for a moment between two reads
                posts.append(Post.from_hash(fields, tags, comments))
        return posts

    # ---- writes --------------------------------------------------------------

    def create(self, author_id: int, author: str, data: PostInput) -> Post:
        """1 round trip: the script takes the new id itself."""
        fields = self._save(None, author_id, author, data, existing=None)
        return Post.from_hash(fields, data.tags)

    def update(self, post: Post, data: PostInput) -> Post:
        fields = self._save(post.id, post.author_id, post.author, data, existing=post)
        return Post.from_hash(fields, data.tags, post.comment_count)

    def _save(
        self,
        post_id: int | None,
        author_id: int,
        author: str,
        data: PostInput,
        existing: Post | None,
    ) -> dict[str, str]:
        """Write a post and every index it is in, atomically and in 1 round trip (one
        Lua script, SAVE_SCRIPT: concurrent writers never conflict, so nothing is
        retried; resending it after a cut connection writes the same post again)."""
        keys = self.keys
        now = time.time()
        html = render_markdown(data.body, self._image_sizes(data.body))
        fields: dict[str, object] = {
            "title": data.title,
            "body": data.body,
            "html": html,
            "excerpt": excerpt(html),
            "author_id": author_id,
            "author": author,
            "status": data.status,
            "published_at": _publish_time(data, existing, now),
            "created_at": existing.created_at if existing else now,
            "updated_at": now,
        }
        base = make_slug(data.title)
        # strings, not numbers: Lua would print floats with 14 digits
        strings = {name: str(value) for name, value in fields.items()}
        payload = {
            "id": "" if post_id is None else str(post_id),
            "base": base,
            # the title changed only in ways the slug ignores: keep the slug
            "keep": existing.slug if existing and make_slug(existing.title) == base else "",
            "reserved": sorted(RESERVED_SLUGS),
            "fields": strings,
            "tags": data.tags,
            "visible": data.status != "draft",
            "now": str(now),
        }
        reply = self._save_script(
            keys=[
                keys.slugs,
                keys.published,
                keys.tags,
                keys.user_posts(author_id),
                keys.content_version,
                keys.content_changed_at,
                keys.next_id("post"),
                keys.create_token(secrets.token_urlsafe(12)),
            ],
            args=[json.dumps(payload), *self._save_keys],
        )
        if reply is None:
            raise PostGone(post_id)  # deleted meanwhile: an edit must not bring it back
        saved_id, slug = reply
        self._written(int(saved_id))
        return {**strings, "id": str(saved_id), "slug": str(slug)}

    def _written(self, post_id: int) -> None:
        for listener in self.after_write:
            listener(post_id)

    def _image_sizes(self, body: str) -> dict[str, ImageSizes]:
        """Sizes of the uploaded images a body shows, so pages can use their variants."""
        records = self.images.get_many(sorted(set(MEDIA_ID.findall(body))))
        return {
            image_id: ImageSizes(
                r.width,
                r.height,
                sorted(((v.name, v.width) for v in r.variants), key=lambda nv: nv[1]),
            )
            for image_id, r in records.items()
        }

    def _tags_left_empty(
        self, pipe: redis.client.Pipeline, post_id: int, dropping: set[str]
    ) -> list[str]:
        """Tags whose only visible post is this one, so they leave the tag index."""
        empty = []
        for tag in dropping:
            members = pipe.zcard(self.keys.tag(tag))
            if members <= 1 and pipe.zscore(self.keys.tag(tag), post_id) is not None:
                empty.append(tag)
        return empty

    def delete(self, post: Post) -> None:
        keys = self.keys

        def write(pipe: redis.client.Pipeline) -> None:
            stored_tags = cast("set[str]", pipe.smembers(keys.post_tags(post.id)))
            _watch(pipe, [keys.tag(t) for t in stored_tags])
            comment_ids = pipe.zrange(keys.post_comments(post.id), 0, -1)
            pending_ids = pipe.zrange(keys.post_pending(post.id), 0, -1)
            slugs = pipe.smembers(keys.post_slugs(post.id))
            removable = self._tags_left_empty(pipe, post.id, stored_tags)
            pipe.multi()
            for cid in [*comment_ids, *pending_ids]:
                pipe.delete(keys.comment(int(cid)))
            if pending_ids:
                pipe.zrem(keys.author_pending(post.author_id), *pending_ids)
            pipe.delete(
                keys.post(post.id),
                keys.post_tags(post.id),
                keys.post_comments(post.id),
                keys.post_pending(post.id),
                keys.post_slugs(post.id),
                keys.announcement(post.id),  # a deleted post is never announced
                keys.announcement_sent(post.id),
            )
            if slugs:
                pipe.hdel(keys.slugs, *slugs)
            pipe.zrem(keys.published, post.id)
            pipe.zrem(keys.user_posts(post.author_id), post.id)
            mark_changed(pipe, keys)
            for tag in stored_tags:
                pipe.zrem(keys.tag(tag), post.id)
            if removable:
                pipe.srem(keys.tags, *removable)

        self.r.transaction(
            write,
            keys.post(post.id),
            keys.post_tags(post.id),
            keys.post_comments(post.id),
            keys.post_pending(post.id),
        )
        self._written(post.id)


def _watch(pipe: redis.client.Pipeline, keys: list[str]) -> None:
    """Add keys to a transaction's WATCH list (WATCH with no key is an error)."""
    if keys:
        pipe.watch(*keys)


def make_slug(title: str) -> str:
    """A readable, Unicode-safe URL segment ("Grüße aus Köln" -> "grüße-aus-köln")."""
    slug = slugify(title, allow_unicode=True, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    return slug or "post"


def _publish_time(data: PostInput, existing: Post | None, now: float) -> float:
    if data.status == "draft":
        return 0.0
    if data.status == "scheduled":
        if data.publish_at is None:  # the form requires it; a caller that skips the form
            raise ValueError("a scheduled post needs publish_at")
        return data.publish_at
    if existing and existing.status == "published" and existing.published_at:
        return existing.published_at  # editing a published post keeps its date
    return now
