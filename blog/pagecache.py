"""Rendered listing pages for visitors, kept in each web process for a few seconds.

Home and tag pages and the feeds look the same to every anonymous visitor, and most
traffic is anonymous. Every write that changes a listing (posts, comments) increments a
content version in the same MULTI/EXEC, and a cached page is used only while the version
is the one it was rendered at, so a write is visible on the next request. Entries expire
after PAGE_CACHE_SECONDS, and never outlive the next scheduled post's publish time (it
appears without any write). A hit costs one Redis round trip (GET of the version)
instead of two plus rendering.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, make_response, request, session
from flask.typing import ResponseReturnValue

from .data import get_data

MAX_ENTRIES = 512


@dataclass(frozen=True)
class _Entry:
    version: str
    expires_at: float  # wall clock, like publish times
    body: bytes
    mimetype: str | None


class PageCache:
    def __init__(self, seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key: str, version: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.version != version or time.time() >= entry.expires_at:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, version: str, response: Response, next_change: float | None) -> None:
        expires_at = min(time.time() + self.seconds, next_change or float("inf"))
        self._entries[key] = _Entry(version, expires_at, response.get_data(), response.mimetype)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _cacheable() -> bool:
    """Only what every visitor sees alike: no author, no flashed message."""
    return request.method == "GET" and g.user is None and "_flashes" not in session


def cached_for_visitors(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args: object, **kwargs: object) -> ResponseReturnValue:
        cache: PageCache | None = current_app.extensions.get("page_cache")
        if cache is None or not _cacheable():
            return view(*args, **kwargs)
        data = get_data()
        version = data.content_version()
        # The host is part of the key: without SITE_URL, absolute links in feeds and the
        # sitemap come from it, and one forged Host must not reach other visitors.
        key = request.host + request.full_path
        entry = cache.get(key, version)
        if entry is not None:
            return Response(entry.body, mimetype=entry.mimetype)
        response = make_response(view(*args, **kwargs))
        if response.status_code == 200:
            cache.put(key, version, response, data.posts.next_publish_time())
        return response

    return wrapped


def init_app(app: Flask) -> None:
    seconds = app.config["PAGE_CACHE_SECONDS"]
    if seconds > 0:
        app.extensions["page_cache"] = PageCache(seconds)
