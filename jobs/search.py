"""The search indexing job: one post's index entries brought in line with the post."""

from __future__ import annotations

from blog.search import service

from .context import data_layer


def index_post(post_id: int) -> str:
    """Read the post, analyse it (processing.search), write its entries back.
    Idempotent and safe out of order: the write lands only if the post has not changed
    since it was read ("stale" otherwise: the job of that later change does the work).
    Redis errors raise, so RQ retries."""
    return service.index_post(data_layer(), post_id)
