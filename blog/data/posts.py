"""Posts, their slugs and their tags: every multi-key write runs in one MULTI/EXEC.

Read paths cost a constant number of round trips: one range query for ids, then one
pipelined batch for the records, whatever the number of posts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import redis
from slugify import slugify

from ..rendering import MEDIA_ID, ImageSizes, excerpt, render_markdown
from .comments import PostGone
from .images import ImageStore
from .imports import check_not_imported
from .keys import Keys
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
        # Called with the post id after every committed write (the app enqueues the
        # search indexing job here); the data layer itself knows nothing of queues.
        self.after_write: list[Callable[[int], object]] = []

    # ---- reads ---------------------------------------------------------------

    def page(self, number: int, per_page: int, tag: str | None = None) -> Page:
        """Visible posts, newest first; 2 round trips."""
        index = self.keys.tag(tag) if tag else self.keys.published
        ids = cast(
            "list[str]",
            self.r.zrevrangebyscore(
                index, time.time(), "-inf", start=(number - 1) * per_page, num=per_page + 1
            ),
        )
        posts = self._load_many([int(i) for i in ids[:per_page]], full=False)
        return Page(items=posts, number=number, has_next=len(ids) > per_page)

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

    def next_publish_time(self) -> float | None:
        """When the next scheduled post appears (listings change then without a write)."""
        due = cast(
            "list[tuple[str, float]]",
            self.r.zrangebyscore(
                self.keys.published, f"({time.time()}", "+inf", start=0, num=1, withscores=True
            ),
        )
        return due[0][1] if due else None

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

    def create(
        self, author_id: int, author: str, data: PostInput, imported: ImportedPost | None = None
    ) -> Post:
        """A new post; with `imported`, raises AlreadyImported if its origin is here."""
        post_id = self.r.incr(self.keys.next_id("post"))
        self._save(post_id, author_id, author, data, existing=None, imported=imported)
        return self._saved(post_id)

    def update(self, post: Post, data: PostInput) -> Post:
        self._save(post.id, post.author_id, post.author, data, existing=post)
        return self._saved(post.id)

    def _saved(self, post_id: int) -> Post:
        post = self.get(post_id)
        if post is None:  # deleted by another author between our EXEC and this read
            raise PostGone(post_id)
        return post

    def _save(
        self,
        post_id: int,
        author_id: int,
        author: str,
        data: PostInput,
        existing: Post | None,
        imported: ImportedPost | None = None,
    ) -> None:
        keys = self.keys
        now = time.time()
        watched = [keys.slugs, keys.post(post_id), keys.post_tags(post_id)]
        if imported:
            watched.append(keys.imported)
        base_slug = make_slug(imported.slug if imported and imported.slug else data.title)
        new_tags = set(data.tags)
        visible = data.status != "draft"
        html = render_markdown(data.body, self._image_sizes(data.body))

        def write(pipe: redis.client.Pipeline) -> None:
            # Everything read here is WATCHed: a concurrent writer of any of these keys
            # makes EXEC fail, and redis-py runs this function again.
            if existing is not None and not pipe.exists(keys.post(post_id)):
                raise PostGone(post_id)  # deleted meanwhile: an edit must not bring it back
            if imported:
                check_not_imported(pipe, keys, imported.origin, lambda i: keys.post(int(i)))
            old_tags = cast("set[str]", pipe.smembers(keys.post_tags(post_id)))
            _watch(pipe, [keys.tag(t) for t in old_tags | new_tags])
            slug = self._free_slug(pipe, base_slug, post_id, existing)
            leaving = old_tags - new_tags if visible else old_tags
            removable = self._tags_left_empty(pipe, post_id, leaving)
            published_at = _publish_time(data, existing, now, imported)
            pipe.multi()
            pipe.hset(
                keys.post(post_id),
                mapping={
                    "id": post_id,
                    "slug": slug,
                    "title": data.title,
                    "body": data.body,
                    "html": html,
                    "excerpt": excerpt(html),
                    "author_id": author_id,
                    "author": author,
                    "status": data.status,
                    "published_at": published_at,
                    "created_at": existing.created_at if existing else now,
                    "updated_at": now,
                },
            )
            if imported:
                _record_import(pipe, keys, post_id, imported)
            pipe.hset(keys.slugs, slug, post_id)
            pipe.sadd(keys.post_slugs(post_id), slug)
            pipe.delete(keys.post_tags(post_id))
            if data.tags:
                pipe.sadd(keys.post_tags(post_id), *data.tags)
            pipe.zadd(keys.user_posts(author_id), {str(post_id): now})
            pipe.incr(keys.content_version)
            if visible:
                pipe.zadd(keys.published, {str(post_id): published_at})
                for tag in data.tags:
                    pipe.zadd(keys.tag(tag), {str(post_id): published_at})
                if data.tags:
                    pipe.sadd(keys.tags, *data.tags)
            else:
                pipe.zrem(keys.published, post_id)
            for tag in leaving:
                pipe.zrem(keys.tag(tag), post_id)
            if removable:
                pipe.srem(keys.tags, *removable)

        self.r.transaction(write, *watched)
        self._written(post_id)

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

    def _free_slug(
        self, pipe: redis.client.Pipeline, base: str, post_id: int, existing: Post | None
    ) -> str:
        """The first of base, base-2, base-3... that is free or already this post's."""
        if existing and make_slug(existing.title) == base:
            return existing.slug  # title changed only in ways the slug ignores
        candidate, n = base, 1
        while True:
            if candidate not in RESERVED_SLUGS:
                owner = pipe.hget(self.keys.slugs, candidate)
                if owner is None or int(owner) == post_id:
                    return candidate
            n += 1
            candidate = f"{base}-{n}"

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
            pipe.incr(keys.content_version)
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


def _record_import(
    pipe: redis.client.Pipeline, keys: Keys, post_id: int, imported: ImportedPost
) -> None:
    pipe.hset(
        keys.post(post_id),
        mapping={"origin": imported.origin, "original_author": imported.original_author},
    )
    pipe.hset(keys.imported, imported.origin, post_id)


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
