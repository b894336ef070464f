"""The search indexing job: one post's index entries brought in line with the post."""

from __future__ import annotations

from .context import data_layer


def index_post(post_id: int) -> str:
    """Idempotent and safe out of order: it reads the post as it is now, and its write
    lands only if the post has not changed since ("stale" otherwise: the job of that
    later change does the work). Redis errors raise, so RQ retries."""
    return data_layer().search.index_post(post_id)
