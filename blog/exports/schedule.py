"""The hourly cleanup of exported documents, as an rq-scheduler cron job with a fixed id.

Like the nightly backup (blog/backups/schedule.py), the cron job only enqueues the real
work (`jobs.export.cleanup_exports`, with RQ's Retry) through a small kicker. An hourly
minute is the same in every time zone, so the process's TZ does not matter here.
"""

from __future__ import annotations

import warnings

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job

from ..backups.schedule import scheduler_for
from ..queues import DOCUMENTS_QUEUE

CLEANUP_JOB_ID = "export-cleanup"
CLEANUP_CRON = "17 * * * *"
KICKER = "jobs.export.scheduled_cleanup"


def _registered(connection: redis.Redis) -> Job | None:
    scheduler = scheduler_for(connection)
    if connection.zscore(scheduler.scheduled_jobs_key, CLEANUP_JOB_ID) is None:
        return None
    try:
        return Job.fetch(CLEANUP_JOB_ID, connection=connection)
    except NoSuchJobError:
        return None


def sync_cleanup_schedule(connection: redis.Redis) -> bool:
    """Register the hourly cleanup once; returns whether it was (re)registered."""
    job = _registered(connection)
    if (
        job is not None
        and job.func_name == KICKER
        and job.origin == DOCUMENTS_QUEUE
        and job.meta.get("cron_string") == CLEANUP_CRON
    ):
        return False
    scheduler = scheduler_for(connection)
    scheduler.cancel(CLEANUP_JOB_ID)
    with warnings.catch_warnings():  # crontab's FutureWarning about local time
        warnings.simplefilter("ignore", FutureWarning)
        scheduler.cron(
            CLEANUP_CRON,
            func=KICKER,
            id=CLEANUP_JOB_ID,
            queue_name=DOCUMENTS_QUEUE,
            timeout=300,
            result_ttl=24 * 3600,
            description="Hourly cleanup of exported documents",
            use_local_timezone=False,
        )
    return True
