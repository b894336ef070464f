"""Handing work to RQ workers. Job functions live in `jobs/`; this module only enqueues.

RQ keeps its own Redis client because it needs raw bytes replies (the data layer's
client decodes to str).
"""

from __future__ import annotations

import redis
from flask import current_app
from rq import Queue, Retry
from rq.job import Job

IMAGES_QUEUE = "images"
# Storage or network trouble is retried with backoff; workers run --with-scheduler so the
# intervals are honoured. A worker killed mid-job also counts as one try (see docs/jobs.md).
IMAGE_RETRY = Retry(max=3, interval=[10, 60, 300])
IMAGE_JOB_TIMEOUT = 120


def rq_connection(url: str, tls_insecure: bool = False) -> redis.Redis:
    options = {"ssl_cert_reqs": None} if tls_insecure and url.startswith("rediss://") else {}
    return redis.Redis.from_url(url, **options)


def get_queue(name: str) -> Queue:
    return Queue(name, connection=current_app.extensions["rq_connection"])


def enqueue_image_cleaning(image_id: str) -> Job:
    """One job per image; the fixed job id makes a repeated enqueue harmless."""
    return get_queue(IMAGES_QUEUE).enqueue(
        "jobs.images.clean_upload", image_id, job_id=f"clean-image-{image_id}",
        retry=IMAGE_RETRY, job_timeout=IMAGE_JOB_TIMEOUT, result_ttl=3600,
        failure_ttl=7 * 24 * 3600, description=f"Remove metadata from image {image_id}")
