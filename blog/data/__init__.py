"""The data layer: the only code that reads or writes the blog's keys.

Views, jobs and commands call `get_data()` (or build a `DataLayer`) and use its stores;
the key schema lives in `keys.py` and is documented in docs/data-model.md. RQ's own
keys are RQ's business (blog/queues.py, blog/backups/enqueue.py and schedule.py reach
them through RQ and rq-scheduler).
"""

from __future__ import annotations

from typing import cast

import redis
from flask import current_app

from .backup_runs import BackupStore
from .comments import CommentStore, PostGone
from .connection import SentinelSettings, connect
from .exports import ExportStore, PostForExport
from .images import ImageStore
from .imports import AlreadyImported, ImportStore
from .keys import Keys
from .mail import AnnouncementStore, MailStore, SubscriberStore
from .models import Comment, ImageRecord, ImageVariant, Page, Post, Revision, User
from .posts import ImportedPost, PostChanged, PostInput, PostStore, neighbour_pair
from .ratelimit import RateLimiter
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
        self.search = SearchIndex(r, self.keys)
        self.search_language = search_language  # for blog/search/service.py's Analyzer
        self.subscribers = SubscriberStore(r, self.keys)
        self.announcements = AnnouncementStore(r, self.keys)
        self.mail = MailStore(r, self.keys)
        self.exports = ExportStore(r, self.keys, self.comments, self.images)
        self.imports = ImportStore(r, self.keys)

    def post_with_comments(self, post_id: int) -> tuple[Post | None, list[Comment], tuple]:
        """A post page's data in 2 round trips: the post, its tags, comment ids and its
        (older, newer) neighbours in one pipeline, then the approved comments."""
        keys = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.post(post_id))
        pipe.smembers(keys.post_tags(post_id))
        pipe.zrange(keys.post_comments(post_id), 0, -1)
        self.posts.queue_neighbours(pipe, post_id)
        fields, tags, comment_ids, neighbours = pipe.execute()
        if not fields:
            return None, [], (None, None)
        post = Post.from_hash(fields, tags, len(comment_ids))
        return post, self.comments.load(comment_ids), neighbour_pair(neighbours)

    def content_version(self) -> str:
        """Bumped by every write that changes a listing, in the same transaction."""
        return cast("str | None", self.redis.get(self.keys.content_version)) or "0"

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
