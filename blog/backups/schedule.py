"""The nightly backup as an rq-scheduler cron job with a fixed id, in UTC.

rq-scheduler keeps one job hash per id and one entry per id in its sorted set
(`rq:scheduler:scheduled_jobs`, score = next run as a Unix time), so registering again
with the same id never makes two jobs; `sync_schedule` leaves an unchanged
registration alone (same cron string: its next run time is kept) and replaces it when
the cron string changed.

The cron job does not run the backup itself: it calls `jobs.backup.scheduled_backup`,
which enqueues `jobs.backup.run_backup` as a fresh job with RQ's Retry. rq-scheduler
re-enqueues the same job object every night, so retry counters kept on it would carry
over from one night to the next (and its `cron()` takes no Retry at all).

These are rq-scheduler's keys, not the blog's (the data layer owns those): this module
reaches them through rq-scheduler's API, and reads and writes the job's score in its
sorted set directly where the API has no call for it.

Time zone: rq-scheduler computes the next run of a cron string in the local time zone
of the process that computes it (whatever `use_local_timezone` says). The scheduler
process (jobs/scheduler.py) therefore runs with TZ=UTC, and this module computes the
first run itself, in UTC, so registering from any process gives the same time.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

import crontab
import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq_scheduler import Scheduler

from ..queues import BACKUPS_QUEUE, IMAGES_QUEUE


@dataclass(frozen=True)
class CronJob:
    """A recurring job: its fixed id, the enqueuer the cron calls (it enqueues the real
    work as a fresh job with RQ's Retry, see above), its queue and a description."""

    id: str
    enqueuer: str
    queue: str
    description: str


NIGHTLY_BACKUP = CronJob(
    "nightly-backup", "jobs.backup.scheduled_backup", BACKUPS_QUEUE, "Nightly backup"
)
# Images no post uses any more are deleted from media storage (UNUSED_IMAGE_HOURS).
IMAGE_CLEANUP = CronJob(
    "image-cleanup", "jobs.images.scheduled_cleanup", IMAGES_QUEUE, "Delete unused images"
)
NIGHTLY_JOB_ID = NIGHTLY_BACKUP.id
NIGHTLY_ENQUEUER = NIGHTLY_BACKUP.enqueuer


class BadCron(ValueError):
    pass


def parse_cron(cron_string: str) -> crontab.CronTab:
    try:
        return crontab.CronTab(cron_string)
    except (ValueError, KeyError, TypeError) as error:
        raise BadCron(
            f"{cron_string!r} is not a valid cron expression ({error}); "
            "use five fields, e.g. '0 3 * * *' for 03:00 UTC every day"
        ) from None


def next_run(cron_string: str, now: datetime | None = None) -> datetime:
    """The next time the cron string fires, read in UTC."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return parse_cron(cron_string).next(now=now, return_datetime=True, default_utc=True)


def scheduler_for(connection: redis.Redis, interval: float = 60) -> Scheduler:
    return Scheduler(queue_name=BACKUPS_QUEUE, connection=connection, interval=interval)


def registered(
    connection: redis.Redis, spec: CronJob = NIGHTLY_BACKUP
) -> tuple[Job, datetime] | None:
    """The recurring job (the nightly backup by default) and its next run (UTC), if it
    is scheduled."""
    scheduler = scheduler_for(connection)
    score = connection.zscore(scheduler.scheduled_jobs_key, spec.id)
    if score is None:
        return None
    try:
        job = Job.fetch(spec.id, connection=connection)
    except NoSuchJobError:
        return None
    return job, datetime.fromtimestamp(score, tz=UTC)


def sync_schedule(
    connection: redis.Redis, cron_string: str, spec: CronJob = NIGHTLY_BACKUP
) -> tuple[Job, bool]:
    """Make the recurring job (the nightly backup by default) match `cron_string`;
    returns (job, changed)."""
    parse_cron(cron_string)
    current = registered(connection, spec)
    if current is not None:
        job, _ = current
        if (
            job.meta.get("cron_string") == cron_string
            and job.func_name == spec.enqueuer
            and job.origin == spec.queue
        ):
            return job, False
    scheduler = scheduler_for(connection)
    scheduler.cancel(spec.id)
    with warnings.catch_warnings():  # crontab's FutureWarning about local time: see below
        warnings.simplefilter("ignore", FutureWarning)
        job = scheduler.cron(
            cron_string,
            func=spec.enqueuer,
            id=spec.id,
            queue_name=spec.queue,
            timeout=300,
            result_ttl=7 * 24 * 3600,
            description=f"{spec.description} ({cron_string} UTC)",
            use_local_timezone=False,
        )
    # cron() computed the first run in this process's time zone; make it UTC.
    connection.zadd(scheduler.scheduled_jobs_key, {job.id: int(next_run(cron_string).timestamp())})
    return job, True
