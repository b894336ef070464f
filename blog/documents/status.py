"""A document job's state, progress and error; whether it still runs; cancelling it.

States as the page and the JSON say them: queued, retrying, running, done, failed,
cancelled (mapped from RQ's job status).
"""

from __future__ import annotations

import time

from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from ..queues import DOCUMENTS_QUEUE, app_rq_connection

STATES = {
    JobStatus.CREATED: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "retrying",
    JobStatus.STARTED: "running",
    JobStatus.FINISHED: "done",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "cancelled",
    JobStatus.CANCELED: "cancelled",
}
LIVE_STATES = frozenset({"queued", "retrying", "running"})
# Between recording a new build and enqueueing its job, the job does not exist yet.
ENQUEUE_GRACE_SECONDS = 30


def fetch(job_id: str, owner_id: int | None = None) -> Job | None:
    """The documents job `job_id`, if it exists (and belongs to `owner_id` if given)."""
    try:
        job = Job.fetch(job_id, connection=app_rq_connection())
    except NoSuchJobError:
        return None
    if job.origin != DOCUMENTS_QUEUE:
        return None
    if owner_id is not None and job.meta.get("owner_id") != owner_id:
        return None
    return job


def state(job: Job) -> str:
    return STATES.get(job.get_status(refresh=False), "queued")


def is_running(job_id: str, claimed_at: float) -> bool:
    """Whether a recorded build still runs or waits (used to allow one at a time)."""
    job = fetch(job_id)
    if job is None:
        return time.time() - claimed_at < ENQUEUE_GRACE_SECONDS
    return state(job) in LIVE_STATES


def describe(job: Job) -> dict:
    meta = job.meta
    done, total = meta.get("done") or 0, meta.get("total")
    current = state(job)
    body = {
        "id": job.id,
        "state": current,
        "step": meta.get("step"),
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else (100 if current == "done" else 0),
        "error": None,
    }
    if current == "failed":
        result = job.latest_result()
        body["error"] = _last_line(result.exc_string if result else "")
    return body


def _last_line(text: str | None) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "the job failed"


def cancel(job: Job) -> None:
    """Stop it if it runs (the worker kills the work horse), else take it off the queue."""
    if state(job) == "running":
        try:
            send_stop_job_command(app_rq_connection(), job.id)
            return
        except InvalidJobOperation:
            pass  # it ended or has not started after all
    if state(job) in LIVE_STATES:
        job.cancel()
