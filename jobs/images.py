"""The image cleaning job: raw upload in, metadata-free image and variants out."""

from __future__ import annotations

import logging

from rq import get_current_job

from blog import media_cleanup
from blog.data import ImageVariant
from blog.queues import enqueue_image_cleanup, rq_connection
from blog.storage import MediaNotFound
from processing.images import BadImage, UnsupportedImage, clean_image, make_variants

from .context import data_layer, media_storage, settings

log = logging.getLogger(__name__)


def report(step: str) -> None:
    """Progress for the web side and the job dashboard, in job.meta."""
    job = get_current_job()
    if job is not None:
        job.meta["step"] = step
        job.save_meta()


def clean_upload(image_id: str) -> str:
    """Clean one upload. Idempotent: a retried or re-run job finishes the same work.

    Bad images end `failed` with a human message (and no retry). Storage errors raise,
    so RQ retries the job with backoff.
    """
    data, storage = data_layer(), media_storage()
    record = data.images.get(image_id)
    if record is None:
        return "gone"
    if record.status == "ready":
        storage.delete(record.incoming_key)
        return "ready"
    report("loading")
    try:
        raw = storage.get(record.incoming_key)
    except MediaNotFound:
        data.images.mark_failed(image_id, "The uploaded file was lost before it was cleaned.")
        return "failed"
    report("cleaning")
    try:
        max_pixels = settings()["MAX_IMAGE_PIXELS"]
        clean = clean_image(raw, max_pixels=max_pixels)
        del raw  # the upload's bytes are not needed while the variants are decoded
        variants = make_variants(clean.data, clean.format, max_pixels=max_pixels)
    except (BadImage, UnsupportedImage) as error:
        log.info("image %s rejected: %s", image_id, error)
        data.images.mark_failed(image_id, str(error))
        storage.delete(record.incoming_key)
        return "failed"
    report("storing")
    storage.put(record.storage_key("original"), clean.data, clean.mime_type)
    stored = [ImageVariant("original", clean.width, clean.height, len(clean.data))]
    for variant in variants:
        storage.put(record.storage_key(variant.name), variant.data, variant.mime_type)
        stored.append(ImageVariant(variant.name, variant.width, variant.height, len(variant.data)))
    # Ready only now, in one write: until this HSET the image answers 404.
    data.images.mark_ready(image_id, clean.width, clean.height, clean.removed, stored)
    storage.delete(record.incoming_key)
    report("done")
    log.info(
        "image %s ready (%dx%d); removed: %s",
        image_id,
        clean.width,
        clean.height,
        ", ".join(clean.removed) or "nothing",
    )
    return "ready"


def remove_unused_images() -> int:
    """Delete the images no post has used for UNUSED_IMAGE_HOURS (idempotent)."""
    config = settings()
    return media_cleanup.remove_unused_images(
        data_layer(), media_storage(), config["UNUSED_IMAGE_HOURS"]
    )


def scheduled_cleanup() -> str:
    """Called by the cleanup cron job: enqueue this hour's cleanup (once), with retries."""
    job = enqueue_image_cleanup(rq_connection(settings()["REDIS_URL"]))
    return job.id
