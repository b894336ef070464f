"""What a job needs from the outside world, built from the same environment variables
as the web app (so `rq worker` needs no Flask app)."""

from __future__ import annotations

from functools import cache

from blog import config
from blog.data import DataLayer, SentinelSettings, connect
from blog.storage import MediaStorage, storage_from_config


@cache
def settings() -> dict:
    return config.from_environment()


def data_layer() -> DataLayer:
    s = settings()
    sentinel = SentinelSettings.from_config(s)
    return DataLayer(connect(s["REDIS_URL"], sentinel), s["KEY_PREFIX"], s["SEARCH_LANGUAGE"])


def media_storage() -> MediaStorage:
    return storage_from_config(settings())
