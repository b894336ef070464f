"""The WordPress import job (`documents` queue, with RQ's Retry): a thin wrapper around
blog/imports/service.py. The uploaded file waits in media storage until the import has
finished; a retried try (killed worker) reads it again and, finding what the first try
imported, adds only the rest."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from rq import get_current_job

from blog.imports.service import Importer, fetcher_from
from blog.queues import enqueue_image_cleaning, enqueue_search_drain, rq_connection

from .context import data_layer, media_storage, settings
from .progress import JobProgress

log = logging.getLogger(__name__)


def import_wordpress(user_id: int, key: str) -> dict[str, Any]:
    """Import the export file at `key` for the author `user_id`; the report is the job's
    result and is kept with the author's latest import."""
    data, storage, config = data_layer(), media_storage(), settings()
    owner = data.users.get(user_id)
    if owner is None:
        raise LookupError(f"author {user_id} does not exist")
    connection = rq_connection(config["REDIS_URL"])
    # As in the web app (blog.register_services): every post written gets indexed.
    data.posts.search_due.append(partial(enqueue_search_drain, connection=connection))
    importer = Importer(
        data,
        storage,
        owner,
        fetcher_from(config),
        lambda image_id: enqueue_image_cleaning(image_id, connection),
    )
    report = importer.run(lambda: storage.open(key), JobProgress())
    job = get_current_job()
    if job is not None:
        data.imports.finish(user_id, job.id, report)
    storage.delete(key)
    log.info(
        "import for author %s: %d posts, %d comments, %d images, %d skipped%s",
        user_id,
        report["posts"],
        report["comments"],
        report["images"],
        report["skipped_total"],
        f"; stopped: {report['error']}" if report["error"] else "",
    )
    return report
