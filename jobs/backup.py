"""The backup jobs: thin wrappers around blog/backups/service.py.

`run_backup` is enqueued with RQ's Retry (1, 5, 15 minutes) on the `backups` queue
(blog/backups/enqueue.py) by the "Back up now" button, `flask backup run --enqueue` and,
each night, by `scheduled_backup`, which rq-scheduler's cron job calls (registered by
blog/backups/schedule.py; the `scheduler` process is jobs/scheduler.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rq import get_current_job

from blog.backups import service
from blog.backups.enqueue import enqueue_backup
from blog.backups.targets import target_from_config
from blog.data.connection import SentinelSettings
from blog.queues import rq_connection

from .context import JOB_REDIS_TIMEOUT, data_layer, media_storage, settings

META_EVERY_SECONDS = 1.0


class _JobMetaProgress:
    """Progress in job.meta for the page and the dashboard, saved at most once a second."""

    def __init__(self) -> None:
        self.job = get_current_job()
        self._last = 0.0
        self._state: dict = {}

    def __call__(self, step: str, done: int, total: int | None) -> None:
        self._state[step] = [done, total]
        now = time.monotonic()
        if self.job is not None and now - self._last >= META_EVERY_SECONDS:
            self._last = now
            self.save(step)

    def save(self, step: str) -> None:
        if self.job is not None:
            self.job.meta.update(step=step, progress=dict(self._state))
            self.job.save_meta()


def run_backup(trigger: str = "job") -> dict:
    """Back up now. Failures raise, so RQ retries with backoff; every try is recorded."""
    progress = _JobMetaProgress()
    progress.save("starting")
    config = settings()
    outcome = service.run_backup(
        data_layer(),
        media_storage(),
        target_from_config(config),
        config,
        progress=progress,
        trigger=trigger,
        job_id=progress.job.id if progress.job else None,
    )
    progress.save("done")
    return {k: outcome.get(k) for k in ("key", "size", "sha256", "counts", "deleted")}


def scheduled_backup() -> str:
    """Called by the nightly cron job: enqueue this night's backup, once (the id names
    the minute; a second call finds the job already there)."""
    config = settings()
    connection = rq_connection(
        config["REDIS_URL"], SentinelSettings.from_config(config), timeout=JOB_REDIS_TIMEOUT
    )
    job_id = f"backup-scheduled-{datetime.now(UTC):%Y%m%dT%H%M}"
    return enqueue_backup(trigger="schedule", connection=connection, job_id=job_id).id
