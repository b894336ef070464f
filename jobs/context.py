"""What a job needs from the outside world, built from the same environment variables
as the web app (so `rq worker` needs no Flask app)."""

from __future__ import annotations

from functools import cache

from blog import config
from blog.data import DataLayer, SentinelSettings, connect
from blog.storage import MediaStorage, storage_from_config

# A job's Redis call gives up after this long on a hung Redis (the job fails and is
# retried) instead of blocking its work horse until the job timeout.
JOB_REDIS_TIMEOUT = 30


@cache
def settings() -> dict:
    return config.from_environment()


def data_layer() -> DataLayer:
    s = settings()
    sentinel = SentinelSettings.from_config(s)
    return DataLayer(
        connect(s["REDIS_URL"], sentinel, timeout=JOB_REDIS_TIMEOUT),
        s["KEY_PREFIX"],
        s["SEARCH_LANGUAGE"],
    )


def media_storage() -> MediaStorage:
    return storage_from_config(settings())
