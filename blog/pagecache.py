"""Visitors' pages: rendered once per process and content state, validated over HTTP.

Home, tag and post pages, `/tags`, the feeds and the sitemap look the same to every
anonymous visitor, and most traffic is anonymous. Every write that changes them bumps
the content version in its transaction, and each web process learns of it from Redis
without asking (blog/data/contentwatch.py), so a cached page costs no Redis round trip
and is never shown after a write that changed it. Entries also expire after
PAGE_CACHE_SECONDS.

The same state gives HTTP validators: `ETag` and `Last-Modified` on visitors' pages, a
`304 Not Modified` without rendering, and `Cache-Control` that lets a CDN keep a page
for HTTP_CACHE_SECONDS (and serve it stale for HTTP_STALE_SECONDS while it revalidates)
while browsers revalidate every time. Authors' pages and pages that carry or set a
session (flash messages, forms with a CSRF token) are `private, no-store`.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import Flask, Response, current_app, g, make_response, request, session
from flask.typing import ResponseReturnValue
from werkzeug.http import is_resource_modified

from .data import ContentState, get_data

MAX_ENTRIES = 512
PRIVATE = "private, no-store"


@dataclass(frozen=True)
class _Entry:
    tag: str
    expires_at: float
    body: bytes
    mimetype: str | None


class PageCache:
    def __init__(self, seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, key: str, tag: str) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None or entry.tag != tag or time.monotonic() >= entry.expires_at:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, tag: str, response: Response) -> None:
        expires_at = time.monotonic() + self.seconds
        self._entries[key] = _Entry(tag, expires_at, response.get_data(), response.mimetype)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


def _for_visitors() -> bool:
    """Only what every visitor sees alike: no author, no flashed message."""
    return request.method in ("GET", "HEAD") and g.user is None and "_flashes" not in session


def _etag(state: ContentState) -> str:
    return f"{current_app.config['RELEASE_TAG']}-{state.tag}"


def _last_modified(state: ContentState) -> datetime | None:
    return datetime.fromtimestamp(state.last_modified, UTC) if state.last_modified else None


def _visitor_headers(response: Response, state: ContentState, etag: str) -> Response:
    config = current_app.config
    response.set_etag(etag)
    response.last_modified = _last_modified(state)
    response.headers["Cache-Control"] = (
        f"public, max-age=0, s-maxage={config['HTTP_CACHE_SECONDS']}, "
        f"stale-while-revalidate={config['HTTP_STALE_SECONDS']}"
    )
    response.vary.add("Cookie")  # an author's request (with a cookie) is a different page
    return response


def cached_for_visitors(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args: object, **kwargs: object) -> ResponseReturnValue:
        cache: PageCache | None = current_app.extensions.get("page_cache")
        http = current_app.config["HTTP_CACHE_SECONDS"] > 0
        if not (cache or http) or not _for_visitors():
            return view(*args, **kwargs)
        state = get_data().content_state()
        etag = _etag(state)
        if http and not is_resource_modified(
            request.environ, etag=etag, last_modified=_last_modified(state)
        ):
            return _visitor_headers(Response(status=304), state, etag)
        # The host is part of the key: absolute links in feeds and the sitemap come from it.
        key = request.host + request.full_path
        entry = cache.get(key, state.tag) if cache else None
        if entry is not None:
            response = Response(entry.body, mimetype=entry.mimetype)
        else:
            response = make_response(view(*args, **kwargs))
            if response.status_code != 200 or session.modified:
                return response  # an error, or a page that started a session: not shared
            if cache:
                cache.put(key, state.tag, response)
        return _visitor_headers(response, state, etag) if http else response

    return wrapped


def _private(response: Response) -> Response:
    """Authors' pages and anything tied to a session never go into a shared cache."""
    if "Cache-Control" not in response.headers and (
        g.get("user") is not None or session.modified or "_flashes" in session
    ):
        response.headers["Cache-Control"] = PRIVATE
    return response


def release_tag(root: Path) -> str:
    """Changes when the code or templates do, so a deploy never revalidates old HTML."""
    digest = hashlib.sha256()
    for path in sorted((*root.glob("blog/**/*.py"), *root.glob("templates/**/*"))):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:10]


def init_app(app: Flask) -> None:
    app.config["RELEASE_TAG"] = release_tag(Path(app.root_path).parent)
    seconds = app.config["PAGE_CACHE_SECONDS"]
    if seconds > 0:
        app.extensions["page_cache"] = PageCache(seconds)
    app.after_request(_private)
