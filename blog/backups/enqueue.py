"""Backup runs on the `backups` queue (jobs.backup.run_backup), and what is waiting there.

Through RQ's API only: RQ keeps its own keys (`rq:*`) and its own Redis client (see
blog/queues.py).
"""

from __future__ import annotations

import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from ..queues import BACKUPS_QUEUE, app_rq_connection

RUN_BACKUP = "jobs.backup.run_backup"
# S3 or network trouble: try again in 1, 5 and 15 minutes (workers run --with-scheduler).
BACKUP_RETRY = Retry(max=3, interval=[60, 300, 900])
BACKUP_JOB_TIMEOUT = 3 * 3600


def enqueue_backup(
    trigger: str = "web", connection: redis.Redis | None = None, job_id: str | None = None
) -> Job:
    """One backup run, with retries. Outside a Flask app (the nightly cron job runs in a
    worker) pass `connection`.

    With a `job_id` the run is enqueued once: RQ's `unique=True` checks and enqueues in
    one Lua script, and a second call returns the job already there (without it, RQ
    would overwrite the job and queue its id twice).
    """
    queue = Queue(BACKUPS_QUEUE, connection=connection or app_rq_connection())
    try:
        return queue.enqueue(
            RUN_BACKUP,
            trigger=trigger,
            job_id=job_id,
            unique=job_id is not None,
            retry=BACKUP_RETRY,
            job_timeout=BACKUP_JOB_TIMEOUT,
            result_ttl=7 * 24 * 3600,
            failure_ttl=30 * 24 * 3600,
            description=f"Back up all blog data and images ({trigger})",
        )
    except DuplicateJobError:
        return Job.fetch(job_id or "", connection=queue.connection)


def backup_jobs() -> list[dict]:
    """Backup jobs waiting, running, or waiting for a retry, with their progress."""
    connection = app_rq_connection()
    queue = Queue(BACKUPS_QUEUE, connection=connection)
    ids = {
        "running": StartedJobRegistry(queue=queue).get_job_ids(),
        "queued": queue.get_job_ids(),
        "retry scheduled": ScheduledJobRegistry(queue=queue).get_job_ids(),
    }
    found = []
    for state, job_ids in ids.items():
        for job in Job.fetch_many(job_ids, connection=connection):
            if job is not None and job.func_name == RUN_BACKUP:
                found.append(_describe(job, state))
    return found


# RQ's job statuses in the words of the backups page.
_STATES = {"started": "running", "scheduled": "retry scheduled", "deferred": "queued"}


def backup_job(job_id: str) -> dict | None:
    """One backup job's state and progress (its job.meta), or None if RQ has no such
    job (or it is not a backup)."""
    job = Job.fetch_many([job_id], connection=app_rq_connection())[0]
    if job is None or job.func_name != RUN_BACKUP:
        return None
    status = job.get_status(refresh=False) or "queued"
    return _describe(job, _STATES.get(status, status))


def _describe(job: Job, state: str) -> dict:
    return {
        "id": job.id,
        "state": state,
        "step": job.meta.get("step"),
        "progress": job.meta.get("progress", {}),
        "retries_left": job.retries_left,
    }
