"""Handing work to RQ workers. Job functions live in `jobs/`; this module only enqueues.

RQ keeps its own Redis client because it needs raw bytes replies (the data layer's
client decodes to str).
"""

from __future__ import annotations

import redis
from flask import current_app
from rq import Queue, Retry
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

IMAGES_QUEUE = "images"
# Storage or network trouble is retried with backoff; workers run --with-scheduler so the
# intervals are honoured. A worker killed mid-job also counts as one try (see docs/jobs.md).
IMAGE_RETRY = Retry(max=3, interval=[10, 60, 300])
IMAGE_JOB_TIMEOUT = 120


def rq_connection(url: str, timeout: float | None = None) -> redis.Redis:
    """Raw-bytes client for RQ; `timeout` as in blog.data.connect (None for processes
    that block on Redis on purpose, like a worker waiting for jobs)."""
    return redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)


def get_queue(name: str) -> Queue:
    return Queue(name, connection=current_app.extensions["rq_connection"])


def enqueue_image_cleaning(image_id: str) -> Job:
    """One job per image; the fixed job id makes a repeated enqueue harmless."""
    return get_queue(IMAGES_QUEUE).enqueue(
        "jobs.images.clean_upload",
        image_id,
        job_id=f"clean-image-{image_id}",
        retry=IMAGE_RETRY,
        job_timeout=IMAGE_JOB_TIMEOUT,
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"Remove metadata from image {image_id}",
    )


BACKUPS_QUEUE = "backups"
# S3 or network trouble: try again in 1, 5 and 15 minutes (workers run --with-scheduler).
BACKUP_RETRY = Retry(max=3, interval=[60, 300, 900])
BACKUP_JOB_TIMEOUT = 3 * 3600


def enqueue_backup(
    trigger: str = "web", connection: redis.Redis | None = None, job_id: str | None = None
) -> Job:
    """One backup run on the `backups` queue (jobs.backup.run_backup), with retries.

    Outside a Flask app (the nightly cron job runs in a worker) pass `connection`.
    """
    queue = Queue(BACKUPS_QUEUE, connection=connection or current_app.extensions["rq_connection"])
    return queue.enqueue(
        "jobs.backup.run_backup",
        trigger=trigger,
        job_id=job_id,
        retry=BACKUP_RETRY,
        job_timeout=BACKUP_JOB_TIMEOUT,
        result_ttl=7 * 24 * 3600,
        failure_ttl=30 * 24 * 3600,
        description=f"Back up all blog data and images ({trigger})",
    )


QUEUE_NAMES = (IMAGES_QUEUE, BACKUPS_QUEUE, "default")
SCHEDULER_PREFIX = "rq:scheduler_instance:"  # rq-scheduler's heartbeat keys (expire ~70 s)


def queue_stats() -> dict[str, dict[str, int]]:
    """Waiting and failed jobs per queue."""
    connection = current_app.extensions["rq_connection"]
    stats = {}
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=connection)
        stats[name] = {"waiting": queue.count, "failed": queue.failed_job_registry.count}
    return stats


def live_workers() -> int:
    from rq import Worker

    return Worker.count(connection=current_app.extensions["rq_connection"])


def scheduler_alive() -> bool:
    """A live rq-scheduler process keeps its key alive; a dead one's key has expired or
    says 'death'."""
    connection = current_app.extensions["rq_connection"]
    for key in connection.scan_iter(match=SCHEDULER_PREFIX + "*", count=100):
        if not connection.hexists(key, "death"):
            return True
    return False


def backup_jobs() -> list[dict]:
    """Backup jobs waiting, running, or waiting for a retry, with their progress."""
    connection = current_app.extensions["rq_connection"]
    queue = Queue(BACKUPS_QUEUE, connection=connection)
    ids = {
        "running": StartedJobRegistry(queue=queue).get_job_ids(),
        "queued": queue.get_job_ids(),
        "retry scheduled": ScheduledJobRegistry(queue=queue).get_job_ids(),
    }
    found = []
    for state, job_ids in ids.items():
        for job in Job.fetch_many(job_ids, connection=connection):
            if job is not None and job.func_name == "jobs.backup.run_backup":
                found.append(
                    {
                        "id": job.id,
                        "state": state,
                        "step": job.meta.get("step"),
                        "progress": job.meta.get("progress", {}),
                        "retries_left": job.retries_left,
                    }
                )
    return found
