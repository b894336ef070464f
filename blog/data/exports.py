"""Document exports (blog/exports): the one build per author and format, the last
finished file, and reading every post in batches for the document writers.

Keys (docs/data-model.md): `export:<user>:<format>:build` (hash: job_id, claimed_at,
tag) and `export:<user>:<format>:file` (hash: the finished file's storage key, name,
size, counts, finished_at). Neither is backed up.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import redis

from ..rendering import MEDIA_ID
from .claims import IsRunning, claim_job
from .comments import CommentStore
from .images import ImageStore
from .keys import Keys
from .models import Comment, ImageRecord, Post

BATCH = 100  # posts per round trip: memory holds one batch, whatever the blog's size


@dataclass(frozen=True)
class PostForExport:
    post: Post  # with body and html
    old_slugs: list[str]
    comments: list[Comment]  # approved and pending, oldest first
    images: dict[str, ImageRecord]  # the ready images its body shows, by id


class ExportStore:
    def __init__(self, r: redis.Redis, keys: Keys, comments: CommentStore, images: ImageStore):
        self.r, self.keys, self.comments, self.images = r, keys, comments, images

    # ---- one build per author and format ----------------------------------------------

    def claim_build(
        self, user_id: int, fmt: str, job_id: str, tag: str, running: IsRunning
    ) -> tuple[str, bool]:
        """Record `job_id` as the author's build of `fmt` unless another one still runs:
        (the build's job id, whether it is ours)."""
        return claim_job(
            self.r, self.keys.export_build(user_id, fmt), job_id, {"tag": tag}, running
        )

    def build(self, user_id: int, fmt: str) -> dict[str, str]:
        """The author's latest build of `fmt` (running or not): job_id, claimed_at, tag."""
        return cast("dict[str, str]", self.r.hgetall(self.keys.export_build(user_id, fmt)))

    def finish_build(self, user_id: int, fmt: str, file: dict[str, Any]) -> str | None:
        """Record the finished file; returns the storage key of the file it replaces."""
        key = self.keys.export_file(user_id, fmt)
        replaced: str | None = None

        def swap(pipe: redis.client.Pipeline) -> None:
            nonlocal replaced
            old = cast("str | None", pipe.hget(key, "key"))
            replaced = old if old != file["key"] else None
            pipe.multi()
            pipe.delete(key)
            # A fresh dict: redis-py types the mapping's keys invariantly.
            pipe.hset(key, mapping={k: v for k, v in file.items()})

        self.r.transaction(swap, key)
        return replaced

    def last_file(self, user_id: int, fmt: str) -> dict[str, str]:
        return cast("dict[str, str]", self.r.hgetall(self.keys.export_file(user_id, fmt)))

    # ---- reading posts in batches -----------------------------------------------------

    def tag_has_posts(self, tag: str) -> bool:
        return self.r.zcount(self.keys.tag(tag), "-inf", time.time()) > 0

    def count(self, tag: str | None, visible_only: bool, draft_authors: list[int]) -> int:
        """How many posts `batches` will yield (drafts counted from the authors' lists)."""
        index = self.keys.tag(tag) if tag else self.keys.published
        total: int = self.r.zcount(index, "-inf", time.time() if visible_only else "+inf")
        return total + sum(len(ids) for a in draft_authors for ids in self._draft_ids(a))

    def batches(
        self, tag: str | None, visible_only: bool, draft_authors: list[int]
    ) -> Iterator[list[PostForExport]]:
        """Published posts in publishing order (scheduled ones too unless
        `visible_only`), then the drafts of `draft_authors`; BATCH posts at a time."""
        index = self.keys.tag(tag) if tag else self.keys.published
        upto = time.time() if visible_only else "+inf"
        for ids in self._ids_by_score(index, upto):
            yield self._load(ids)
        for author_id in draft_authors:
            seen: set[int] = set()  # an edit moves a draft to the end of its author's list
            for ids in self._draft_ids(author_id):
                batch = self._load([i for i in ids if i not in seen])
                seen.update(p.post.id for p in batch)
                yield [p for p in batch if p.post.status == "draft"]

    def _draft_ids(self, author_id: int) -> Iterator[list[int]]:
        """The author's drafts, BATCH posts of their list at a time. A post published
        meanwhile is skipped when loaded."""
        key = self.keys.user_posts(author_id)
        for start in itertools.count(0, BATCH):
            ids = [int(i) for i in cast("list[str]", self.r.zrange(key, start, start + BATCH - 1))]
            if not ids:
                return
            pipe = self.r.pipeline(transaction=False)
            for post_id in ids:
                pipe.hget(self.keys.post(post_id), "status")
            yield [i for i, status in zip(ids, pipe.execute(), strict=True) if status == "draft"]

    def _ids_by_score(self, index: str, upto: float | str) -> Iterator[list[int]]:
        """Ids in score order, BATCH at a time, resuming after the last score seen (not
        an offset: posts added meanwhile do not shift the next batch)."""
        low: float | str = "-inf"
        seen_at_low: set[str] = set()
        while True:
            found = cast(
                "list[tuple[str, float]]",
                self.r.zrangebyscore(
                    index, low, upto, start=0, num=BATCH + len(seen_at_low), withscores=True
                ),
            )
            rows = [(m, s) for m, s in found if m not in seen_at_low][:BATCH]
            if not rows:
                return
            yield [int(m) for m, _ in rows]
            last = rows[-1][1]
            same = {m for m, s in rows if s == last}
            seen_at_low = seen_at_low | same if last == low else same
            low = last

    def _load(self, ids: list[int]) -> list[PostForExport]:
        """A batch in 3 round trips: posts with their parts, comments, images."""
        keys = self.keys
        pipe = self.r.pipeline(transaction=False)
        for post_id in ids:
            pipe.hgetall(keys.post(post_id))
            pipe.smembers(keys.post_tags(post_id))
            pipe.smembers(keys.post_slugs(post_id))
            pipe.zrange(keys.post_comments(post_id), 0, -1)
            pipe.zrange(keys.post_pending(post_id), 0, -1)
        replies = pipe.execute()
        rows = [replies[i : i + 5] for i in range(0, len(replies), 5)]
        rows = [row for row in rows if row[0]]  # deleted meanwhile
        comments = self.comments.load([cid for row in rows for cid in (*row[3], *row[4])])
        by_post: dict[int, list[Comment]] = {}
        for comment in sorted(comments, key=lambda c: c.created_at):
            by_post.setdefault(comment.post_id, []).append(comment)
        image_ids = sorted({i for row in rows for i in MEDIA_ID.findall(row[0].get("body", ""))})
        images = self.images.get_many(image_ids)
        found = []
        for fields, tags, slugs, _, _ in rows:
            post = Post.from_hash(fields, tags)
            shown = {i: images[i] for i in MEDIA_ID.findall(post.body) if i in images}
            old = sorted(s for s in slugs if s != post.slug)
            found.append(PostForExport(post, old, by_post.get(post.id, []), shown))
        return found
