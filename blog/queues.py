"""Handing work to RQ workers, and asking RQ how its queues, workers and scheduler are.

Job functions live in `jobs/`. RQ owns its keys (`rq:*`) and this module reaches them
only through RQ's API (plus rq-scheduler's heartbeat keys, which that library offers
no call for). RQ keeps its own Redis client because it needs raw bytes replies (the
data layer's client decodes to str). Backup runs are enqueued by blog/backups/enqueue.py.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from flask import current_app
from redis.client import Pipeline
from rq import Queue, Retry, Worker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job

from .data.connection import SentinelSettings, connect

IMAGES_QUEUE = "images"
MAIL_QUEUE = "mail"
SEARCH_QUEUE = "search"
BACKUPS_QUEUE = "backups"
DOCUMENTS_QUEUE = "documents"  # long jobs an author watches: blog/documents/
# What the Procfile's worker serves, in this order.
QUEUE_NAMES = (IMAGES_QUEUE, MAIL_QUEUE, SEARCH_QUEUE, BACKUPS_QUEUE, DOCUMENTS_QUEUE, "default")

# Storage or network trouble is retried with backoff; workers run --with-scheduler so the
# intervals are honoured. A worker killed mid-job also counts as one try (docs/images.md).
IMAGE_RETRY = Retry(max=3, interval=[10, 60, 300])
IMAGE_JOB_TIMEOUT = 120
# Redis trouble in the worker: try again soon (indexing is idempotent, see jobs/search.py).
SEARCH_RETRY = Retry(max=3, interval=[1, 10, 60])
SEARCH_JOB_TIMEOUT = 60
SCHEDULER_PREFIX = "rq:scheduler_instance:"  # rq-scheduler's heartbeat keys (expire ~70 s)


def rq_connection(
    url: str, sentinel: SentinelSettings | None = None, timeout: float | None = None
) -> redis.Redis:
    """RQ's own client (bytes replies), to the same primary as the data layer's;
    `timeout` as in blog.data.connect (None for processes that block on Redis on purpose,
    like a worker waiting for jobs)."""
    return connect(url, sentinel, decode=False, timeout=timeout)


def app_rq_connection() -> redis.Redis:
    """The current app's RQ client (made once by create_app)."""
    return current_app.extensions["rq_connection"]


def enqueue_image_cleaning(image_id: str, connection: redis.Redis | None = None) -> Job:
    """One job per image, enqueued once: RQ's `unique=True` checks the fixed id and
    enqueues in one Lua script; a repeat returns the job already there. `connection`:
    for callers without an app (an import job); default, the app's."""
    queue = Queue(IMAGES_QUEUE, connection=connection or app_rq_connection())
    job_id = f"clean-image-{image_id}"
    try:
        return queue.enqueue(
            "jobs.images.clean_upload",
            image_id,
            job_id=job_id,
            unique=True,
            retry=IMAGE_RETRY,
            job_timeout=IMAGE_JOB_TIMEOUT,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
            description=f"Remove metadata from image {image_id}",
        )
    except DuplicateJobError:
        return Job.fetch(job_id, connection=queue.connection)


def compact_queue(name: str) -> bool:
    """Drop the ids of deleted jobs from a queue (the dashboard's "compact"); False when
    the queue is empty (rq renames its list, and Redis cannot rename a missing key)."""
    try:
        Queue(name, connection=app_rq_connection()).compact()
    except redis.ResponseError as error:
        if "no such key" not in str(error).lower():
            raise
        return False
    return True


def enqueue_image_cleanup(connection: redis.Redis | None = None) -> Job:
    """Delete the images no post uses (jobs.images.remove_unused_images), with retries;
    once per hour (fixed id, `unique=True`), so a cron tick seen twice enqueues it once.
    Outside a Flask app (the cron job runs in a worker) pass `connection`."""
    queue = Queue(IMAGES_QUEUE, connection=connection or app_rq_connection())
    job_id = f"image-cleanup-{int(time.time() // 3600)}"
    try:
        return queue.enqueue(
            "jobs.images.remove_unused_images",
            job_id=job_id,
            unique=True,
            retry=IMAGE_RETRY,
            job_timeout=IMAGE_JOB_TIMEOUT * 5,
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
            description="Delete images no post uses",
        )
    except DuplicateJobError:
        return Job.fetch(job_id, connection=queue.connection)


# SMTP down or a 4xx: try again in 5 s, 30 s, 2, 10 and 30 minutes (workers run
# --with-scheduler). What was accepted is recorded, so a retry never sends it again.
MAIL_RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])
MAIL_JOB_TIMEOUT = 600
MAIL_RESULT_TTL = 7 * 24 * 3600  # a batch's job id must outlive its retries (see jobs/mail)


def enqueue_mail(
    func: str,
    *args: object,
    job_id: str | None = None,
    at: float | None = None,
    connection: redis.Redis | None = None,
    description: str = "",
    unique: bool = False,
    along: Callable[[Pipeline], object] | None = None,
) -> Job | None:
    """A job on the `mail` queue (now, or at the Unix time `at`, by the worker's built-in
    scheduler). Outside a Flask app (jobs enqueue jobs) pass `connection`. With `unique`
    (and a `job_id`), RQ checks and enqueues in one step: None when that id exists.
    `along` queues the data layer's writes that go with the job (the record naming it)
    on RQ's pipeline: they and the job are stored in one MULTI/EXEC, both or neither."""
    queue = Queue(MAIL_QUEUE, connection=connection or app_rq_connection())
    options: dict[str, Any] = dict(
        job_id=job_id,
        retry=MAIL_RETRY,
        job_timeout=MAIL_JOB_TIMEOUT,
        result_ttl=MAIL_RESULT_TTL,
        failure_ttl=30 * 24 * 3600,
        description=description or None,
        unique=unique,
    )
    try:
        if along is None:
            return _enqueue(queue, func, args, at, options)
        with queue.connection.pipeline() as pipe:
            pipe.multi()  # RQ adds to a transaction begun before it, or begins its own
            along(pipe)
            job = _enqueue(queue, func, args, at, {**options, "pipeline": pipe})
            pipe.execute()
            return job
    except DuplicateJobError:
        return None


def _enqueue(queue: Queue, func: str, args: tuple, at: float | None, options: dict) -> Job:
    if at is not None and at > time.time():
        # RQ keeps whole seconds (it truncates): round up, never a moment early.
        when = datetime.fromtimestamp(math.ceil(at), UTC)
        return queue.enqueue_at(when, func, *args, **options)
    return queue.enqueue(func, *args, **options)


def remove_job(job_id: str, connection: redis.Redis | None = None) -> None:
    """Take a job off its queue or schedule, if it is still there."""
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(job_id, connection=connection or app_rq_connection()).delete(
            remove_from_queue=True
        )


def enqueue_search_drain(connection: redis.Redis) -> Job:
    """A job that indexes every post written since the last one ran (jobs.search
    .drain_pending). Only the write that found no such job waiting calls this (the flag
    of blog/data/search.py), so a burst of writes costs one job. One round trip: RQ
    queues its writes (the queue's registration, the job, the push) on our pipeline,
    which sends them as one MULTI/EXEC. Retried: a retry (same job id) redoes the ids
    its killed try had taken."""
    with connection.pipeline() as pipe:
        job = Queue(SEARCH_QUEUE, connection=connection).enqueue(
            "jobs.search.drain_pending",
            retry=SEARCH_RETRY,
            job_timeout=SEARCH_JOB_TIMEOUT,
            result_ttl=600,
            failure_ttl=7 * 24 * 3600,
            description="Update the search index for the posts written since the last update",
            pipeline=pipe,
        )
        pipe.execute()
    return job


def queue_stats() -> dict[str, dict[str, int]]:
    """Waiting and failed jobs per queue."""
    connection = app_rq_connection()
    stats = {}
    for name in QUEUE_NAMES:
        queue = Queue(name, connection=connection)
        stats[name] = {"waiting": queue.count, "failed": queue.failed_job_registry.count}
    return stats


def live_workers() -> int:
    return Worker.count(connection=app_rq_connection())


def scheduler_alive() -> bool:
    """A live rq-scheduler process keeps its key alive; a dead one's key has expired or
    says 'death'."""
    connection = app_rq_connection()
    for key in connection.scan_iter(match=SCHEDULER_PREFIX + "*", count=100):
        if not connection.hexists(key, "death"):
            return True
    return False
