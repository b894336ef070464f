"""Comments: a hash each, indexed per post (approved) and per author (awaiting moderation)."""

from __future__ import annotations

import time

import redis

from .contentwatch import mark_comments_changed
from .imports import check_not_imported
from .keys import Keys
from .models import Comment


class PostGone(LookupError):
    """The post was deleted (or hidden) while a comment was being written."""


class CommentGone(LookupError):
    """The comment was deleted while it was being approved."""


class CommentStore:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def for_post(self, post_id: int) -> list[Comment]:
        """Approved comments, oldest first."""
        return self.load(self.r.zrange(self.keys.post_comments(post_id), 0, -1))

    def since(self, post_id: int, after: float) -> list[Comment]:
        """Approved and waiting comments newer than `after`, oldest first (for the
        author's comment notice). 2 round trips."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrangebyscore(self.keys.post_comments(post_id), f"({after}", "+inf")
        pipe.zrangebyscore(self.keys.post_pending(post_id), f"({after}", "+inf")
        approved, pending = pipe.execute()
        return sorted(self.load(approved + pending), key=lambda c: c.created_at)

    def pending_for_author(self, author_id: int) -> list[Comment]:
        return self.load(self.r.zrange(self.keys.author_pending(author_id), 0, -1))

    def get(self, comment_id: int) -> Comment | None:
        found = self.load([comment_id])
        return found[0] if found else None

    def load(self, ids: list) -> list[Comment]:
        if not ids:
            return []
        pipe = self.r.pipeline(transaction=False)
        for cid in ids:
            pipe.hgetall(self.keys.comment(int(cid)))
        return [Comment.from_hash(h) for h in pipe.execute() if h]

    def add(
        self,
        post_id: int,
        author_id: int,
        name: str,
        body: str,
        moderated: bool,
        imported: tuple[str, float] | None = None,
    ) -> Comment:
        """Store a comment on a post that still exists; raises PostGone otherwise.

        `imported` is (origin, original time) for a comment brought in by an import:
        claimed in `imported` in the same transaction (AlreadyImported if it is here)."""
        keys = self.keys
        comment_id = self.r.incr(keys.next_id("comment"))
        now = imported[1] if imported else time.time()
        status = "pending" if moderated else "approved"
        watched = [keys.post(post_id), keys.imported] if imported else [keys.post(post_id)]

        def write(pipe: redis.client.Pipeline) -> None:
            # The post hash is WATCHed: deleting the post meanwhile aborts this write.
            if not pipe.exists(keys.post(post_id)):
                raise PostGone(post_id)
            if imported:
                check_not_imported(pipe, keys, imported[0], lambda i: keys.comment(int(i)))
            pipe.multi()
            if imported:
                pipe.hset(keys.imported, imported[0], comment_id)
            pipe.hset(
                keys.comment(comment_id),
                mapping={
                    "id": comment_id,
                    "post_id": post_id,
                    "name": name,
                    "body": body,
                    "created_at": now,
                    "status": status,
                },
            )
            if moderated:
                pipe.zadd(keys.post_pending(post_id), {str(comment_id): now})
                pipe.zadd(keys.author_pending(author_id), {str(comment_id): now})
            else:
                pipe.zadd(keys.post_comments(post_id), {str(comment_id): now})
                mark_comments_changed(pipe, keys, post_id)

        self.r.transaction(write, *watched)
        return Comment(comment_id, post_id, name, body, now, status)

    def approve(self, comment: Comment, author_id: int) -> None:
        keys = self.keys

        def write(pipe: redis.client.Pipeline) -> None:
            if not pipe.exists(keys.post(comment.post_id)):
                raise PostGone(comment.post_id)
            if not pipe.exists(keys.comment(comment.id)):
                raise CommentGone(comment.id)  # HSET would recreate it with one field
            pipe.multi()
            pipe.hset(keys.comment(comment.id), "status", "approved")
            pipe.zrem(keys.post_pending(comment.post_id), comment.id)
            pipe.zrem(keys.author_pending(author_id), comment.id)
            pipe.zadd(keys.post_comments(comment.post_id), {str(comment.id): comment.created_at})
            mark_comments_changed(pipe, keys, comment.post_id)

        self.r.transaction(write, keys.post(comment.post_id), keys.comment(comment.id))

    def delete(self, comment: Comment, author_id: int) -> None:
        keys = self.keys
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(keys.comment(comment.id))
            pipe.zrem(keys.post_comments(comment.post_id), comment.id)
            pipe.zrem(keys.post_pending(comment.post_id), comment.id)
            pipe.zrem(keys.author_pending(author_id), comment.id)
            mark_comments_changed(pipe, keys, comment.post_id)
            pipe.execute()
