"""The search indexing job: the posts written since the last run brought in line with
their index entries (batched: docs/search.md "Indexing")."""

from __future__ import annotations

from rq import get_current_job

from blog.search import service

from .context import data_layer


def drain_pending(job_id: str = "") -> dict[str, int]:
    """Index the pending posts, a batch at a time, until none is left. Idempotent and
    safe out of order: a post's entries land only if the post has not changed since it
    was read. Redis errors raise, so RQ retries; a retry keeps the job id, and so takes
    back the ids its failed try had taken (`job_id`: for a call outside a worker)."""
    current = get_current_job()
    token = current.id if current is not None else job_id
    if not token:
        raise ValueError("drain_pending needs a job (or a job_id)")
    return service.drain_pending(data_layer(), token)  # rq-dashboard shows the counts


def index_post(post_id: int) -> str:
    """One post (the job of releases before batching): such jobs may still wait in the
    queue when this release deploys, and must run, not fail on a missing function."""
    return service.index_post(data_layer(), post_id)
