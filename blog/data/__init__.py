"""The data layer: the only code that reads or writes the blog's keys.

Views, jobs and commands call `get_data()` (or build a `DataLayer`) and use its stores;
the key schema lives in `keys.py` and is documented in docs/data-model.md. RQ's own
keys are RQ's business (blog/queues.py, blog/backups/enqueue.py and schedule.py reach
them through RQ and rq-scheduler).
"""

from __future__ import annotations

import time

import redis
from flask import current_app

from .backup_runs import BackupStore
from .cards import CARD_FIELDS
from .comments import CommentStore, PostGone
from .connection import SentinelSettings, connect
from .contentwatch import ContentState, ContentWatch, Mark
from .exports import ExportStore, PostForExport
from .images import ImageStore
from .imports import AlreadyImported, ImportStore
from .keys import Keys, split_key
from .mail import AnnouncementStore, MailStore, SubscriberStore
from .models import Comment, ImageRecord, ImageVariant, Page, Post, Revision, User
from .posts import ImportedPost, PostChanged, PostInput, PostStore, neighbour_pair
from .ratelimit import RateLimiter
from .scripts import Script
from .search import SearchIndex
from .users import UsernameTaken, UserStore

__all__ = [
    "AlreadyImported",
    "ImportedPost",
    "Comment",
    "DataLayer",
    "ImageRecord",
    "ImageVariant",
    "NotReplicated",
    "Page",
    "ExportStore",
    "Post",
    "PostForExport",
    "PostChanged",
    "PostGone",
    "PostInput",
    "Revision",
    "SentinelSettings",
    "User",
    "UsernameTaken",
    "connect",
    "get_data",
]


# KEYS[1] = slugs, KEYS[2] = posts:published; ARGV[1] = the slug, then (head, tail)
# pairs that make the keys of a post, its tags, its comment ids and a comment from an id
# (split_key), then the time now. Of the post it reads the fields the page shows
# (POST_PAGE_FIELDS), not its Markdown source: up to 200,000 characters that the page
# never shows and the reply would carry as far as the HTML. Keys built from ids read
# inside the script are not declared: fine on one Redis primary, not on a
# Cluster (docs/data-model.md). Returns nil or {post field values, tags, comments,
# {older, newer}} (each neighbour {slug, title} or empty).
POST_PAGE_FIELDS = (*CARD_FIELDS, "html")  # `id` first: nil when the post is gone
POST_PAGE_SCRIPT = """
local id = redis.call('HGET', KEYS[1], ARGV[1])
if not id then return nil end
local function key(i, x) return ARGV[i] .. x .. ARGV[i + 1] end
local post = redis.call('HMGET', key(2, id), FIELDS)
if not post[1] then return nil end
local comments = {}
for n, cid in ipairs(redis.call('ZRANGE', key(6, id), 0, -1)) do
  comments[n] = redis.call('HGETALL', key(8, cid))
end
-- the visible posts published just before and just after it (previous/next links)
local function card(ids)
  if #ids == 0 then return {} end
  return redis.call('HMGET', key(2, ids[1]), 'slug', 'title')
end
local neighbours = {{}, {}}
local score = redis.call('ZSCORE', KEYS[2], id)
if score then
  neighbours = {
    card(redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. score, '-inf', 'LIMIT', 0, 1)),
    card(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. score, ARGV[10], 'LIMIT', 0, 1)),
  }
end
return {post, redis.call('SMEMBERS', key(4, id)), comments, neighbours}
""".replace("FIELDS", ", ".join(f"'{name}'" for name in POST_PAGE_FIELDS))


def _pairs(flat: list[str]) -> dict[str, str]:
    """HGETALL's reply inside a script's answer: a flat list of fields and values."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


# How long a write waits for its replicas before the visitor is told to try again.
REPLICA_WAIT_MS = 2000


class NotReplicated(redis.RedisError):
    """The primary has the write but too few replicas confirmed it in time."""


class DataLayer:
    """All stores over one connection pool and one key prefix."""

    def __init__(
        self,
        r: redis.Redis,
        prefix: str,
        search_language: str = "english",
        *,
        wait_replicas: int = 0,
    ) -> None:
        self.redis = r
        self.wait_replicas = wait_replicas
        self.keys = Keys(prefix)
        self.images = ImageStore(r, self.keys)
        self.posts = PostStore(r, self.keys, self.images)
        self.comments = CommentStore(r, self.keys)
        self.users = UserStore(r, self.keys)
        self.limits = RateLimiter(r, self.keys)
        self.backups = BackupStore(r, self.keys)
        self.content = ContentWatch(r, self.keys)
        self._post_page = Script(r, POST_PAGE_SCRIPT)
        self.search = SearchIndex(r, self.keys)
        self.search_language = search_language  # for blog/search/service.py's Analyzer
        self.subscribers = SubscriberStore(r, self.keys)
        self.announcements = AnnouncementStore(r, self.keys)
        self.mail = MailStore(r, self.keys)
        self.exports = ExportStore(r, self.keys, self.comments, self.images)
        self.imports = ImportStore(r, self.keys)
        keys = self.keys
        self._post_page_keys = [
            part
            for builder in (keys.post, keys.post_tags, keys.post_comments, keys.comment)
            for part in split_key(builder)
        ]

    def post_page(self, slug: str) -> tuple[Post | None, list[Comment], tuple]:
        """A post page's data in 1 round trip: the slug's post, its tags, its approved
        comments and its (older, newer) neighbours (one Lua script, POST_PAGE_SCRIPT)."""
        reply = self._post_page(
            keys=[self.keys.slugs, self.keys.published],
            args=[slug, *self._post_page_keys, time.time()],
        )
        if not reply:
            return None, [], (None, None)
        values, tags, comments, neighbours = reply
        comment_list = [Comment.from_hash(_pairs(c)) for c in comments if c]
        # A field the post has not got (an old post's reading time) comes back nil.
        fields = {k: v for k, v in zip(POST_PAGE_FIELDS, values, strict=True) if v is not None}
        post = Post.from_hash(fields, tags, len(comments))
        return post, comment_list, neighbour_pair(neighbours)

    def content_state(self) -> ContentState:
        """What visitors see and when it last changed; 0 round trips while it is unchanged
        (server-assisted client-side caching, blog/data/contentwatch.py)."""
        return self.content.current()

    def content_mark(self) -> Mark:
        """Where this process's stream of invalidations stands (after content_state()):
        taken before a page's reads, so post_comments_unchanged can judge the page."""
        return self.content.mark()

    def post_comments_unchanged(self, post_id: int, since: Mark) -> bool:
        """No change to this post's visible comments since the mark; 0 round trips."""
        return self.content.post_unchanged(post_id, since)

    def confirm_saved(self) -> None:
        """Return once `wait_replicas` replicas hold every write this process has made
        (REDIS_WAIT_REPLICAS; docs/deploy.md), else raise NotReplicated.

        WAIT only covers the writes of the connection it runs on, and the writes before
        went out on pooled connections: a PUBLISH on this one enters the replication
        stream after them, so once replicas have it they have the writes too."""
        if not self.wait_replicas:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.publish(self.keys.replication_barrier, "")
        pipe.wait(self.wait_replicas, REPLICA_WAIT_MS)
        acked = pipe.execute()[1]
        if acked < self.wait_replicas:
            raise NotReplicated(f"{acked} of {self.wait_replicas} replicas confirmed the write")

    def ping(self) -> bool:
        return bool(self.redis.ping())

    def memory(self) -> tuple[int, int]:
        """(bytes used, maxmemory); maxmemory 0 means no limit."""
        info = self.redis.info("memory")
        return int(info["used_memory"]), int(info.get("maxmemory", 0))

    def eviction_policy(self) -> str | None:
        """Redis's maxmemory-policy, or None where CONFIG is disabled (managed Redis)."""
        try:
            return self.redis.config_get("maxmemory-policy").get("maxmemory-policy")
        except redis.ResponseError:
            return None

    def accepts_writes(self) -> bool:
        """Whether Redis takes a write now (a full Redis under noeviction refuses)."""
        try:
            self.redis.set(self.keys.health_probe, "1", ex=60)
        except redis.exceptions.OutOfMemoryError:
            return False
        return True


def get_data() -> DataLayer:
    return current_app.extensions["blog_data"]
