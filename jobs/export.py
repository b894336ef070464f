"""The document jobs: thin wrappers around blog/exports/service.py.

`build_document` runs on the `documents` queue with RQ's Retry. It writes the document
to a spool file named after the job (a retried try overwrites its predecessor's), then
hands it to media storage in one piece, so `exports/` never holds a partial file.
Cancelling ("Cancel", RQ's stop command) kills the work horse; the worker then calls
`build_stopped`, which removes the spool file.
`cleanup_exports` deletes files older than EXPORT_KEEP_HOURS; rq-scheduler enqueues it
every hour through `scheduled_cleanup` (blog/exports/schedule.py).
"""

from __future__ import annotations

import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
from rq import get_current_job
from rq.job import Job

from blog.documents.queue import DOCUMENT_JOB_TIMEOUT
from blog.exports import service
from blog.exports.enqueue import enqueue_export_cleanup
from blog.queues import rq_connection

from .context import data_layer, media_storage, settings
from .progress import JobProgress

log = logging.getLogger(__name__)


def spool_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "blog-exports"
    folder.mkdir(exist_ok=True)
    return folder


def spool_path(job_id: str) -> Path:
    return spool_dir() / f"{job_id}.part"


def build_document(user_id: int, fmt: str, tag: str = "", site_url: str = "") -> dict:
    """Build one author's document and publish it under exports/. Any failure raises
    (RQ retries); the spool file never outlives the try."""
    job = get_current_job()
    job_id = job.id if job else "local"
    data, storage, config = data_layer(), media_storage(), settings()
    progress = JobProgress()
    started = datetime.now(UTC)
    spool = spool_path(job_id)
    try:
        with spool.open("w+b") as out:
            counts = service.build_document(
                data,
                storage,
                config,
                fmt=fmt,
                out=out,
                tag=tag,
                draft_authors=[user_id],
                site_url=site_url,
                progress=progress,
            )
            progress("storing", counts["posts"], counts["posts"])
            out.seek(0)
            key = service.storage_key(user_id, fmt, started, job_id)
            storage.put_file(key, out, service.FORMATS[fmt].mime_type)
    finally:
        spool.unlink(missing_ok=True)
    name = service.download_name(config["BLOG_TITLE"], fmt, tag, started)
    record = {"key": key, "name": name, "tag": tag, "finished_at": datetime.now(UTC).timestamp()}
    replaced = data.exports.finish_build(user_id, fmt, {**record, **counts})
    if replaced:
        storage.delete(replaced)  # one file per author and format
    progress("done", counts["posts"], counts["posts"])
    log.info("export %s for author %s: %s (%d bytes)", fmt, user_id, key, counts["bytes"])
    return {"key": key, **counts}


def build_stopped(job: Job, connection: redis.Redis, *args: object) -> None:
    """Called by the worker after "Cancel" killed the work horse: drop the partial file."""
    spool_path(job.id).unlink(missing_ok=True)
    log.info("export job %s cancelled; partial file removed", job.id)


def cleanup_exports() -> int:
    """Expired files in media storage, and spool files that a killed try left in this
    machine's temporary directory (a running build touches its own all the time)."""
    removed = service.cleanup(media_storage(), settings()["EXPORT_KEEP_HOURS"])
    stale = time.time() - DOCUMENT_JOB_TIMEOUT - 3600
    for spool in spool_dir().glob("*.part"):
        if spool.stat().st_mtime < stale:
            spool.unlink(missing_ok=True)
    log.info("export cleanup: %d expired file(s) deleted", len(removed))
    return len(removed)


def scheduled_cleanup() -> str:
    """Called by the hourly cron job: enqueue this hour's cleanup (once), with a Retry."""
    connection = rq_connection(settings()["REDIS_URL"])
    job_id = f"export-cleanup-{datetime.now(UTC):%Y%m%dT%H}"
    if enqueue_export_cleanup(connection, job_id) is None:
        return f"{job_id} already enqueued"
    return job_id
