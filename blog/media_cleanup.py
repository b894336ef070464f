"""Deleting images no post uses: run by the scheduled cleanup job (jobs/images.py).

An image becomes unused when it was uploaded and never shown by a saved post, when the
last post showing it stops showing it, or when that post is deleted (then it already
answers 404). Unused for `older_than_hours` (at once for a deleted post's images), it is
retired (404 from then on), its files are deleted from media storage, then its record.
A crash between those steps leaves it retired and listed: the next run finishes it.
"""

from __future__ import annotations

import logging
import time

from .data import DataLayer
from .storage import MediaStorage

log = logging.getLogger(__name__)


def remove_unused_images(
    data: DataLayer,
    storage: MediaStorage,
    older_than_hours: float,
    now: float | None = None,
    batch: int = 500,
) -> int:
    """Delete the images unused for `older_than_hours`; returns how many went."""
    cutoff = (now if now is not None else time.time()) - older_than_hours * 3600
    removed = 0
    for image_id in data.images.unused_since(cutoff, batch):
        record = data.images.retire(image_id)
        if record is None:
            continue  # a post shows it again
        for key in record.storage_keys():
            storage.delete(key)
        data.images.forget(record)
        removed += 1
        log.info("unused image %s deleted", image_id)
    return removed
