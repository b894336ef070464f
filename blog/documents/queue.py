"""Enqueueing a document job: the `documents` queue, a Retry, the owner in job.meta."""

from __future__ import annotations

from rq import Callback, Queue, Retry
from rq.job import Job

from ..queues import DOCUMENTS_QUEUE, app_rq_connection

# Long document work (exports, imports): a killed worker's build is run again from the
# start; storage or network trouble is retried after 10 s, then 1 minute.
DOCUMENT_RETRY = Retry(max=2, interval=[10, 60])
DOCUMENT_JOB_TIMEOUT = 2 * 3600


def enqueue_document(
    func: str,
    *,
    owner_id: int,
    job_id: str,
    description: str,
    on_stopped: str | None = None,
    **kwargs: object,
) -> Job:
    """A job on the `documents` queue whose progress its owner can watch: job.meta holds
    `owner_id` (only they see its status) and the progress fields jobs/progress.py
    writes. `on_stopped` names a function the worker calls after "Cancel" killed it."""
    queue = Queue(DOCUMENTS_QUEUE, connection=app_rq_connection())
    return queue.enqueue(
        func,
        kwargs=kwargs,
        job_id=job_id,
        meta={"owner_id": owner_id, "step": "queued", "done": 0, "total": None},
        retry=DOCUMENT_RETRY,
        job_timeout=DOCUMENT_JOB_TIMEOUT,
        result_ttl=24 * 3600,
        failure_ttl=7 * 24 * 3600,
        on_stopped=Callback(on_stopped) if on_stopped else None,
        description=description,
    )
