"""The Redis key schema: the only place that spells a key.

docs/data-model.md lists every key, its type and who writes it; keep the two in step.
"""

from __future__ import annotations

from collections.abc import Callable


class Keys:
    """Builds every key the app uses, under one configurable prefix (default `blog:`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _k(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    @staticmethod
    def split(builder: Callable[..., str], hole: str = "\0") -> tuple[str, str]:
        """(head, tail) of a per-id key, so a Lua script builds `head .. id .. tail`
        for ids it only learns inside Redis, and still only this class spells keys."""
        head, tail = builder(hole).split(hole)
        return head, tail

    # Id counters (INCR).
    def next_id(self, entity: str) -> str:
        return self._k("ids", entity)

    # The id a post create took, by a token the create made up: a create resent after a
    # cut connection finds its id again (expires after an hour; never backed up).
    def create_token(self, token: str) -> str:
        return self._k("create", token)

    # Posts.
    def post(self, post_id: int) -> str:
        return self._k("post", post_id)

    def post_tags(self, post_id: int) -> str:
        return self._k("post", post_id, "tags")

    def post_comments(self, post_id: int) -> str:
        return self._k("post", post_id, "comments")

    def post_pending(self, post_id: int) -> str:
        return self._k("post", post_id, "pending")

    def post_slugs(self, post_id: int) -> str:
        return self._k("post", post_id, "slugs")

    @property
    def published(self) -> str:
        return self._k("posts", "published")

    @property
    def slugs(self) -> str:
        return self._k("slugs")

    # Tags.
    def tag(self, name: str) -> str:
        return self._k("tag", name)

    @property
    def tags(self) -> str:
        return self._k("tags")

    # Comments.
    def comment(self, comment_id: int) -> str:
        return self._k("comment", comment_id)

    def author_pending(self, user_id: int) -> str:
        return self._k("user", user_id, "pending")

    # Authors.
    def user(self, user_id: int) -> str:
        return self._k("user", user_id)

    @property
    def usernames(self) -> str:
        return self._k("users")

    def user_posts(self, user_id: int) -> str:
        return self._k("user", user_id, "posts")

    # Images (uploads and their cleaning).
    def image(self, image_id: str) -> str:
        return self._k("image", image_id)

    def user_images(self, user_id: int) -> str:
        return self._k("user", user_id, "images")

    # Visitors' pages change when this does (see blog/data/contentwatch.py); never backed up.
    @property
    def content_version(self) -> str:
        return self._k("cache", "version")

    # When the content version last changed (Last-Modified); never backed up.
    @property
    def content_changed_at(self) -> str:
        return self._k("cache", "changed-at")

    # Rate limits (expiring; never backed up).
    def rate(self, action: str, client: str, window: int) -> str:
        return self._k("rate", action, client, window)

    # Backups: their own bookkeeping (never backed up, never restored).
    @property
    def backup_runs(self) -> str:
        return self._k("backup", "runs")

    @property
    def backup_last_good(self) -> str:
        return self._k("backup", "last-good")

    @property
    def backup_lock(self) -> str:
        return self._k("backup", "lock")
