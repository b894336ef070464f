"""Posts, their slugs and their tags: every multi-key write is atomic, a save (create,
edit, autosave) one Lua script in one round trip, the rest one MULTI/EXEC.

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

from ..rendering import (
    MEDIA_ID,
    ImageSizes,
    cover_image,
    excerpt,
    reading_minutes,
    render_markdown,
)
from .cards import (
    CARD_FIELDS,
    CARD_LUA,
    CARD_SCRIPT,
    card_keys,
    missing_cards,
    post_from_card,
    write_cards,
)
from .comments import PostGone
from .contentwatch import mark_changed
from .images import ImageStore
from .imports import AlreadyImported
from .keys import Keys, split_key
from .models import Page, Post, Revision
from .scripts import Script
from .search import DRAIN_FLAG_SECONDS, MARK_PENDING_LUA

SLUG_MAX_LENGTH = 80
# Paths under /posts/ that are routes, not posts: a post titled "New" gets "new-2".
RESERVED_SLUGS = frozenset({"new"})

# One page of a listing: KEYS[1] = the index (posts:published or tag:<name>); ARGV = now,
# offset, count, then (head, tail) of the post's card, comments, hash and tags keys
# (split_key). Returns one JSON document: [whether a next page has posts, then each post's
# card (blog/data/cards.py) and comment count] - one GET and one ZCARD a post, where the
# hash's summary fields and the tag set cost about ten times as much Redis CPU, and one
# string for the client to parse instead of some 200 values.
PAGE_SCRIPT = (
    CARD_LUA
    + """
local count = tonumber(ARGV[3])
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', ARGV[2], count + 1)
local function key(i, id) return ARGV[i] .. id .. ARGV[i + 1] end
local out = {#ids > count and 'true' or 'false'}
for n = 1, math.min(#ids, count) do
  local id = ids[n]
  -- No card (saved before cards existed): built here, not stored; a read writes nothing.
  local card = redis.call('GET', key(4, id)) or card_of(key(8, id), key(10, id))
  if card then
    out[#out + 1] = card
    out[#out + 1] = redis.call('ZCARD', key(6, id))
  end
end
return '[' .. table.concat(out, ',') .. ']'
"""
)

# Lua's unpack() stops at about 8,000 values (a body may show thousands of images, a
# post have thousands of comments): calls with a list of arguments go in slices.
# mark_pending: the search index's batched update (blog/data/search.py).
LUA_HELPERS = (
    MARK_PENDING_LUA
    + """
local function call_each(command, target, list)
  for i = 1, #list, 1000 do
    redis.call(command, target, unpack(list, i, math.min(i + 999, #list)))
  end
end
local function set_of(list)
  local set = {}
  for _, v in ipairs(list) do set[v] = true end
  return set
end
-- Whether no post but `id` shows an image (users: SMEMBERS image:<i>:posts).
local function only_user(users, id)
  return #users == 0 or (#users == 1 and users[1] == id)
end
"""
)

# Saves a post (create or edit) atomically in one round trip: every check, read and write
# of the save happens inside Redis, so 16 authors saving at once never abort and retry
# each other as WATCHed transactions on the shared `slugs` and `tag:*` keys did.
# KEYS: 1 ids:post, 2 slugs, 3 tags, 4 posts:published, 5 images:unused, 6 cache:version,
# 7 cache:changed-at, 8 imported, 9 user:<author>:posts, 10 the create's id claim
# (ids:post:<request>; an edit: its post), then tag:<t> of each tag it gets, then
# image:<i>:posts of each image its body shows, then search:pending and search:queued
# (the last two, whatever the number of tags and images). ARGV: (head, tail) of post:<id>, :tags,
# :images, :slugs, :revision, :comments, :card, tag:<t> and image:<i>:posts (split_key: the
# id of a create, its old tags and images are learnt in here), then the save's `spec` (see
# _save) as JSON, then the post hash's fields and values (rendered in Python) but id and
# slug.
# Returns {'ok', id, slug, comment count, 1 if a search drain job must be enqueued},
# {'gone'}, {'changed'} or {'imported', id}.
SAVE_SCRIPT = (
    LUA_HELPERS
    + CARD_LUA
    + """
local spec = cjson.decode(ARGV[19])
local POST, TAGS, IMAGES, SLUGS, REVISION, COMMENTS, CARD, TAG, IMAGE_POSTS =
  1, 3, 5, 7, 9, 11, 13, 15, 17
local function key(i, id) return ARGV[i] .. id .. ARGV[i + 1] end
-- Every check and read comes before the first write (but taking a create's id: a gap in
-- ids is harmless), so an error can only stop the script before it changed anything
-- (Redis does not undo a script's writes).
local creating, id, fresh = spec.id == '', spec.id, false
if creating then
  -- A create sent again after its reply was lost (the client retries) keeps its id.
  id = redis.call('GET', KEYS[10])
  -- A new id has no keys yet: no old tags, images or comments to read, none to clear.
  if not id then id, fresh = tostring(redis.call('INCR', KEYS[1])), true end
else
  local stored = redis.call('HGET', key(POST, id), 'updated_at')
  if not stored then return {'gone'} end  -- deleted meanwhile: an edit must not revive it
  local saved = tonumber(stored)
  -- (this very save, sent again after a lost reply, finds its own time: not a conflict)
  if spec.expected ~= '' and saved ~= tonumber(spec.expected) and saved ~= tonumber(spec.now) then
    return {'changed'}
  end
end
if spec.origin ~= '' then
  local owner = redis.call('HGET', KEYS[8], spec.origin)
  if owner and owner ~= id and redis.call('EXISTS', key(POST, owner)) == 1 then
    return {'imported', owner}
  end
end
local new_tags, now_used = set_of(spec.tags), set_of(spec.images)
local old_tags, old_images = {}, {}
if not fresh then
  old_tags = redis.call('SMEMBERS', key(TAGS, id))
  old_images = redis.call('SMEMBERS', key(IMAGES, id))
end
local was_used = set_of(old_images)
-- Images it stops showing that no other post shows wait in images:unused.
local unused = {}
for _, image in ipairs(old_images) do
  if not now_used[image] then
    if only_user(redis.call('SMEMBERS', key(IMAGE_POSTS, image)), id) then
      unused[#unused + 1] = spec.now
      unused[#unused + 1] = image
    end
  end
end
local slug = spec.slug
if slug == '' then  -- the first of base, base-2, base-3... free or already this post's
  local reserved, n = set_of(spec.reserved), 1
  slug = spec.base
  while true do
    if not reserved[slug] then
      local owner = redis.call('HGET', KEYS[2], slug)
      if not owner or owner == id then break end
    end
    n = n + 1
    slug = spec.base .. '-' .. n
  end
end
-- Tags it leaves whose only visible post is this one leave the tag index.
local leaving, empty = {}, {}
for _, tag in ipairs(old_tags) do
  if not (spec.visible and new_tags[tag]) then
    leaving[#leaving + 1] = key(TAG, tag)
    if redis.call('ZCARD', key(TAG, tag)) <= 1 and redis.call('ZSCORE', key(TAG, tag), id) then
      empty[#empty + 1] = tag
    end
  end
end

local post = key(POST, id)
redis.call('HSET', post, 'id', id, 'slug', slug, unpack(ARGV, 20))
local images, tags = key(IMAGES, id), key(TAGS, id)
if not fresh then redis.call('DEL', key(REVISION, id), images, tags) end
call_each('SADD', images, spec.images)
call_each('ZREM', KEYS[5], spec.images)
for n, image in ipairs(spec.images) do
  if not was_used[image] then redis.call('SADD', KEYS[10 + #spec.tags + n], id) end
end
for _, image in ipairs(old_images) do
  if not now_used[image] then redis.call('SREM', key(IMAGE_POSTS, image), id) end
end
call_each('ZADD', KEYS[5], unused)
if spec.origin ~= '' then redis.call('HSET', KEYS[8], spec.origin, id) end
redis.call('HSET', KEYS[2], slug, id)
redis.call('SADD', key(SLUGS, id), slug)
call_each('SADD', tags, spec.tags)
-- The card from the values just written (the hash's card fields are all in ARGV), not
-- read back: 17 µs less.
local written = {id = id, slug = slug}
for i = 20, #ARGV, 2 do written[ARGV[i]] = ARGV[i + 1] end
local values = {}
for i, name in ipairs(CARD_FIELDS) do values[i] = written[name] or false end
redis.call('SET', key(CARD, id), card_from(values, spec.tags))
redis.call('ZADD', KEYS[9], spec.now, id)
if spec.seen then  -- contentwatch.mark_changed: invalidates every process's page cache
  redis.call('INCR', KEYS[6])
  redis.call('SET', KEYS[7], spec.now)
end
if spec.visible then
  redis.call('ZADD', KEYS[4], spec.published_at, id)
  for n = 1, #spec.tags do redis.call('ZADD', KEYS[10 + n], spec.published_at, id) end
  call_each('SADD', KEYS[3], spec.tags)
else
  redis.call('ZREM', KEYS[4], id)
end
for _, tag_key in ipairs(leaving) do redis.call('ZREM', tag_key, id) end
call_each('SREM', KEYS[3], empty)
if creating then redis.call('SET', KEYS[10], id, 'EX', spec.claim_seconds) end
local due = 0
if spec.seen then due = mark_pending(KEYS[#KEYS - 1], KEYS[#KEYS], id, spec.drain_seconds) end
local comments = fresh and 0 or redis.call('ZCARD', key(COMMENTS, id))
return {'ok', tonumber(id), slug, comments, due}
"""
)
# Deletes a post with its comments, slugs, tags, revision and announcement in one step.
# KEYS: 1 post:<id>, 2 :tags, 3 :comments, 4 :pending, 5 :slugs, 6 :revision,
# 7 announcement:<id>, 8 announcement:<id>:sent, 9 post:<id>:images, 10 slugs,
# 11 posts:published, 12 user:<author>:posts, 13 user:<author>:pending, 14 tags,
# 15 images:unused, 16 cache:version, 17 cache:changed-at, 18 search:pending,
# 19 search:queued, 20 post:<id>:card. ARGV: the post id, the time, then (head, tail) of
# comment:<id>, tag:<t>, image:<i> and image:<i>:posts, then the search flag's seconds.
# Returns 1 if a search drain job must be enqueued (blog/data/search.py), else 0.
DELETE_SCRIPT = (
    LUA_HELPERS
    + """
local id, now = ARGV[1], ARGV[2]
local COMMENT, TAG, IMAGE, IMAGE_POSTS = 3, 5, 7, 9
local function key(i, part) return ARGV[i] .. part .. ARGV[i + 1] end
local tags = redis.call('SMEMBERS', KEYS[2])
local comments = redis.call('ZRANGE', KEYS[3], 0, -1)
local pending = redis.call('ZRANGE', KEYS[4], 0, -1)
local slugs = redis.call('SMEMBERS', KEYS[5])
local images = redis.call('SMEMBERS', KEYS[9])
local empty = {}
for _, tag in ipairs(tags) do
  if redis.call('ZCARD', key(TAG, tag)) <= 1 and redis.call('ZSCORE', key(TAG, tag), id) then
    empty[#empty + 1] = tag
  end
end
-- Its images no other post shows (and not cleaned up yet) answer 404 at once; the
-- cleanup job then deletes their files (score 0: due now).
local unused = {}
for _, image in ipairs(images) do
  if only_user(redis.call('SMEMBERS', key(IMAGE_POSTS, image)), id)
      and redis.call('EXISTS', key(IMAGE, image)) == 1 then
    unused[#unused + 1] = image
  end
end

for _, image in ipairs(unused) do redis.call('HSET', key(IMAGE, image), 'status', 'deleted') end
for _, image in ipairs(images) do redis.call('SREM', key(IMAGE_POSTS, image), id) end
local due = {}
for _, image in ipairs(unused) do
  due[#due + 1] = 0
  due[#due + 1] = image
end
call_each('ZADD', KEYS[15], due)
for _, cid in ipairs(comments) do redis.call('DEL', key(COMMENT, cid)) end
for _, cid in ipairs(pending) do redis.call('DEL', key(COMMENT, cid)) end
call_each('ZREM', KEYS[13], pending)
-- (announcement:<id> and :sent: a deleted post is never announced)
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9],
  KEYS[20])
call_each('HDEL', KEYS[10], slugs)
redis.call('ZREM', KEYS[11], id)
redis.call('ZREM', KEYS[12], id)
redis.call('INCR', KEYS[16])  -- contentwatch.mark_changed
redis.call('SET', KEYS[17], now)
for _, tag in ipairs(tags) do redis.call('ZREM', key(TAG, tag), id) end
call_each('SREM', KEYS[14], empty)
return mark_pending(KEYS[18], KEYS[19], id, ARGV[11])
"""
)
# How long a create's id claim is kept: longer than the client's retries take.
CLAIM_SECONDS = 300

# An autosave of a published post: KEYS[1] the post, KEYS[2] its revision; ARGV: the
# editor's updated_at, then the revision's fields and values.
REVISION_SCRIPT = """
local stored = redis.call('HGET', KEYS[1], 'updated_at')
if not stored then return 'gone' end
if tonumber(stored) ~= tonumber(ARGV[1]) then return 'changed' end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 'ok'
"""


class PostChanged(RuntimeError):
    """The post was saved elsewhere (another tab) since the editor loaded it."""


@dataclass(frozen=True)
class PostInput:
    """What an author submits; validated by the form before it gets here."""

    title: str
    body: str
    tags: list[str]
    status: str
    publish_at: float | None = None  # required for "scheduled"


@dataclass(frozen=True)
class ImportedPost:
    """Where an imported post comes from (blog/imports): kept on the post, and claimed in
    `imported` in the same transaction, so importing it again raises AlreadyImported."""

    origin: str  # imports.post_origin(guid)
    published_at: float  # the original date (drafts: when it was written)
    original_author: str  # the WordPress author's display name
    slug: str = ""  # WordPress's post_name, preferred to the title's slug


class PostStore:
    def __init__(self, r: redis.Redis, keys: Keys, images: ImageStore) -> None:
        self.r = r
        self.keys = keys
        self.images = images
        self._page_script = Script(r, PAGE_SCRIPT)
        self._save_script = Script(r, SAVE_SCRIPT)
        self._revision_script = Script(r, REVISION_SCRIPT)
        self._delete_script = Script(r, DELETE_SCRIPT)
        self._card_script = Script(r, CARD_SCRIPT)
        self._delete_keys = [
            part
            for builder in (keys.comment, keys.tag, keys.image, keys.image_posts)
            for part in split_key(builder)
        ]
        self._save_keys = [
            part
            for builder in (
                keys.post,
                keys.post_tags,
                keys.post_images,
                keys.post_slugs,
                keys.post_revision,
                keys.post_comments,
                keys.post_card,
                keys.tag,
                keys.image_posts,
            )
            for part in split_key(builder)
        ]
        self._listing_keys = [
            part
            for builder in (keys.post_card, keys.post_comments, keys.post, keys.post_tags)
            for part in split_key(builder)
        ]
        # Called after a committed write that found no search drain job waiting (the
        # app enqueues one here); the data layer itself knows nothing of queues.
        self.search_due: list[Callable[[], object]] = []

    # ---- reads ---------------------------------------------------------------

    def page(self, number: int, per_page: int, tag: str | None = None) -> Page:
        """Visible posts, newest first; 1 round trip (PAGE_SCRIPT), whatever the size."""
        index = self.keys.tag(tag) if tag else self.keys.published
        has_next, *cards = json.loads(
            self._page_script(
                keys=[index],
                args=[time.time(), (number - 1) * per_page, per_page, *self._listing_keys],
            )
        )
        posts = [
            post_from_card(card, comments)
            for card, comments in zip(cards[::2], cards[1::2], strict=True)
        ]
        return Page(items=posts, number=number, has_next=has_next)

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

    def revision(self, post_id: int) -> Revision | None:
        """Autosaved edits of a published or scheduled post, not yet published."""
        fields = cast("dict[str, str]", self.r.hgetall(self.keys.post_revision(post_id)))
        return Revision.from_hash(fields) if fields else None

    def render(self, body: str) -> str:
        """A body as the post page would show it (the editor's preview)."""
        return render_markdown(body, self._image_sizes(body)[0])

    def _load_many(self, ids: list[int], full: bool = True) -> list[Post]:
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for post_id in ids:
            if full:
                pipe.hgetall(self.keys.post(post_id))
            else:
                # A listing's fields, not the body (up to 200,000 characters).
                pipe.hmget(self.keys.post(post_id), CARD_FIELDS)
            pipe.smembers(self.keys.post_tags(post_id))
            pipe.zcard(self.keys.post_comments(post_id))
        replies = pipe.execute()
        posts = []
        for i in range(0, len(replies), 3):
            fields, tags, comments = replies[i : i + 3]
            if not full:
                fields = dict(zip(CARD_FIELDS, fields, strict=True)) if fields[0] else {}
            if fields:  # an id can outlive its post for a moment between two reads
                posts.append(Post.from_hash(fields, tags, comments))
        return posts

    # ---- writes --------------------------------------------------------------

    def create(
        self, author_id: int, author: str, data: PostInput, imported: ImportedPost | None = None
    ) -> Post:
        """A new post; with `imported`, raises AlreadyImported if its origin is here."""
        return self._save(None, author_id, author, data, None, imported=imported)

    def update(self, post: Post, data: PostInput, expected_updated_at: float | None = None) -> Post:
        """Save an edit (and drop any autosaved revision). With `expected_updated_at`
        (autosave), refuse with PostChanged if the post was saved since then."""
        return self._save(post.id, post.author_id, post.author, data, post, expected_updated_at)

    def save_revision(self, post: Post, data: PostInput, expected_updated_at: float) -> float:
        """Keep autosaved edits of a published or scheduled post aside, unpublished, until
        the author presses Update (update() then drops them); returns the save time."""
        now = time.time()
        outcome = self._revision_script(
            keys=[self.keys.post(post.id), self.keys.post_revision(post.id)],
            args=[
                repr(float(expected_updated_at)),
                "title",
                data.title,
                "body",
                data.body,
                "tags",
                json.dumps(data.tags),
                "saved_at",
                repr(now),
            ],  # fmt: skip
        )
        if outcome == "gone":
            raise PostGone(post.id)
        if outcome == "changed":
            raise PostChanged(post.id)
        return now

    def discard_revision(self, post_id: int) -> None:
        self.r.delete(self.keys.post_revision(post_id))

    def _save(
        self,
        post_id: int | None,
        author_id: int,
        author: str,
        data: PostInput,
        existing: Post | None,
        expected_updated_at: float | None = None,
        imported: ImportedPost | None = None,
    ) -> Post:
        """Create (`post_id` None) or edit a post: SAVE_SCRIPT, one round trip. Returns
        the post as saved, without reading it back."""
        keys = self.keys
        now = time.time()
        base_slug = make_slug((imported and imported.slug) or data.title)
        tags = list(dict.fromkeys(data.tags))
        visible = data.status != "draft"
        sizes, image_ids = self._image_sizes(data.body)
        images = sorted(image_ids)
        html = render_markdown(data.body, sizes)
        cover = cover_image(html, sizes)
        published_at = _publish_time(data, existing, now, imported)
        # Values as redis-py would send them (floats by repr), so the Post built from them
        # below is the one a read would give.
        fields = {
            "title": data.title,
            "body": data.body,
            "html": html,
            "excerpt": excerpt(html),
            "author_id": str(author_id),
            "author": author,
            "status": data.status,
            "published_at": repr(published_at),
            "created_at": repr(existing.created_at if existing else now),
            "updated_at": repr(now),
            "cover": json.dumps(cover) if cover else "",
            "reading_minutes": str(reading_minutes(html)),
        }
        if imported:
            fields |= {"origin": imported.origin, "original_author": imported.original_author}
        # A draft saved as a draft (every autosave) changes nothing visitors see: the page
        # cache stays warm and the search index untouched while an author types.
        seen_by_visitors = visible or (existing is not None and existing.status != "draft")
        spec = {
            "id": "" if post_id is None else str(post_id),
            "now": repr(now),
            "expected": "" if expected_updated_at is None else repr(float(expected_updated_at)),
            "origin": imported.origin if imported else "",
            # The title changed only in ways the slug ignores: the post keeps its slug.
            "slug": existing.slug if existing and make_slug(existing.title) == base_slug else "",
            "base": base_slug,
            "reserved": sorted(RESERVED_SLUGS),
            "tags": tags,
            "images": images,
            "visible": visible,
            "seen": seen_by_visitors,
            "published_at": repr(published_at),
            "claim_seconds": CLAIM_SECONDS,
            "drain_seconds": DRAIN_FLAG_SECONDS,
        }
        own = (
            keys.post_id_claim(secrets.token_urlsafe(12)) if post_id is None else keys.post(post_id)
        )
        reply = cast(
            "list",
            self._save_script(
                keys=[
                    keys.next_id("post"),
                    keys.slugs,
                    keys.tags,
                    keys.published,
                    keys.unused_images,
                    keys.content_version,
                    keys.content_changed_at,
                    keys.imported,
                    keys.user_posts(author_id),
                    own,
                    *[keys.tag(t) for t in tags],
                    *[keys.image_posts(i) for i in images],
                    keys.search_pending,
                    keys.search_queued,
                ],
                args=[
                    *self._save_keys,
                    json.dumps(spec, ensure_ascii=False),
                    *[part for pair in fields.items() for part in pair],
                ],
            ),
        )
        outcome, *rest = reply
        if outcome == "gone":
            raise PostGone(post_id)
        if outcome == "changed":
            raise PostChanged(post_id)
        if outcome == "imported":
            raise AlreadyImported(rest[0])
        saved_id, slug, comments, due = int(rest[0]), rest[1], int(rest[2]), rest[3]
        if due:
            self._search_due()
        return Post.from_hash({**fields, "id": str(saved_id), "slug": slug}, tags, comments)

    def _search_due(self) -> None:
        for listener in self.search_due:
            listener()

    def rerender(self, post_id: int) -> bool:
        """Render a stored post again with today's renderer: its HTML, excerpt, cover and
        reading time (after an upgrade), and its listing card; nothing else changes. False
        if it is gone."""
        key = self.keys.post(post_id)
        done: list[bool] = []

        def write(pipe: redis.client.Pipeline) -> None:
            done.clear()  # the function runs again when the post changed meanwhile
            body = cast("str | None", pipe.hget(key, "body"))
            if body is None:
                return
            sizes, _ = self._image_sizes(body)
            html = render_markdown(body, sizes)
            cover = cover_image(html, sizes)
            pipe.multi()
            pipe.hset(
                key,
                mapping={
                    "html": html,
                    "excerpt": excerpt(html),
                    "cover": json.dumps(cover) if cover else "",
                    "reading_minutes": reading_minutes(html),
                },
            )
            self._card_script(keys=card_keys(self.keys, post_id), client=pipe)
            mark_changed(pipe, self.keys)
            done.append(True)

        self.r.transaction(write, key)
        return bool(done)

    def write_cards(self) -> int:
        """Write every post's listing card again (blog/data/cards.py); returns how many
        posts there are. Listings are right without it: it makes a blog saved before
        cards existed list at full speed."""
        return write_cards(self.r, self.keys, range(1, self.last_id() + 1))

    def write_missing_cards(self) -> int:
        """Write the cards of the posts that have none (saved before cards existed);
        returns how many. Run by every deploy's release step: a few seconds a million
        posts when none is missing."""
        ids = missing_cards(self.r, self.keys, range(1, self.last_id() + 1))
        return write_cards(self.r, self.keys, ids) if ids else 0

    def last_id(self) -> int:
        return int(self.r.get(self.keys.next_id("post")) or 0)

    def _image_sizes(self, body: str) -> tuple[dict[str, ImageSizes], set[str]]:
        """Sizes of the ready uploaded images a body shows (so pages can use their
        variants), and the ids of every uploaded image it shows, ready or not."""
        records = self.images.get_many(sorted(set(MEDIA_ID.findall(body))), ready_only=False)
        sizes = {
            image_id: ImageSizes(
                r.width,
                r.height,
                sorted(((v.name, v.width) for v in r.variants), key=lambda nv: nv[1]),
            )
            for image_id, r in records.items()
            if r.status == "ready"
        }
        return sizes, {i for i, r in records.items() if r.status in ("ready", "processing")}

    def delete(self, post: Post) -> None:
        """The post and everything of it (DELETE_SCRIPT: one round trip, atomic)."""
        keys = self.keys
        due = self._delete_script(
            keys=[
                keys.post(post.id),
                keys.post_tags(post.id),
                keys.post_comments(post.id),
                keys.post_pending(post.id),
                keys.post_slugs(post.id),
                keys.post_revision(post.id),
                keys.announcement(post.id),
                keys.announcement_sent(post.id),
                keys.post_images(post.id),
                keys.slugs,
                keys.published,
                keys.user_posts(post.author_id),
                keys.author_pending(post.author_id),
                keys.tags,
                keys.unused_images,
                keys.content_version,
                keys.content_changed_at,
                keys.search_pending,
                keys.search_queued,
                keys.post_card(post.id),
            ],
            args=[post.id, repr(time.time()), *self._delete_keys, DRAIN_FLAG_SECONDS],
        )
        if due:
            self._search_due()


def neighbour_pair(reply: list) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """POST_PAGE_SCRIPT's neighbours as ((slug, title) older, (slug, title) newer)."""
    pairs = [tuple(card) if card and card[0] else None for card in (reply or [[], []])]
    return pairs[0], pairs[1]


def make_slug(title: str) -> str:
    """A readable, Unicode-safe URL segment ("Grüße aus Köln" -> "grüße-aus-köln")."""
    slug = slugify(title, allow_unicode=True, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    return slug or "post"


def _publish_time(
    data: PostInput, existing: Post | None, now: float, imported: ImportedPost | None = None
) -> float:
    if data.status == "draft":
        return 0.0
    if imported and data.status == "published":
        return imported.published_at
    if data.status == "scheduled":
        if data.publish_at is None:  # the form requires it; a caller that skips the form
            raise ValueError("a scheduled post needs publish_at")
        return data.publish_at
    if existing and existing.status == "published" and existing.published_at:
        return existing.published_at  # editing a published post keeps its date
    return now
