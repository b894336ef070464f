"""The hourly cleanup's real work on the `documents` queue, with a Retry (enqueued by
jobs.export.scheduled_cleanup, which rq-scheduler's cron job calls)."""

from __future__ import annotations

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job

from ..documents.queue import DOCUMENT_RETRY
from ..queues import DOCUMENTS_QUEUE

CLEANUP_EXPORTS = "jobs.export.cleanup_exports"


def enqueue_export_cleanup(connection: redis.Redis, job_id: str) -> Job | None:
    """Delete exported files past EXPORT_KEEP_HOURS; once per `job_id` (RQ checks and
    enqueues in one step), None when that run is there already."""
    try:
        return Queue(DOCUMENTS_QUEUE, connection=connection).enqueue(
            CLEANUP_EXPORTS,
            job_id=job_id,
            unique=True,
            retry=DOCUMENT_RETRY,
            job_timeout=1800,
            result_ttl=24 * 3600,
            description="Delete exported documents older than EXPORT_KEEP_HOURS",
        )
    except DuplicateJobError:
        return None
