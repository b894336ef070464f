"""Visitors' pages: rendered once per process and content state, validated over HTTP.

Home, tag and post pages, `/tags`, the feeds and the sitemap look the same to every
anonymous visitor, and most traffic is anonymous. Every write that changes them bumps
the content version in its transaction, and each web process learns of it from Redis
without asking (blog/data/contentwatch.py), so a cached page costs no Redis round trip
and is never shown after a write that changed it. A hit is answered by a WSGI middleware
before Flask runs (ServeFromCache), with the headers the app gave the page. Entries also
expire after PAGE_CACHE_SECONDS.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from flask import Flask, Response, current_app, g, make_response, request, session
from flask.typing import ResponseReturnValue
from werkzeug.http import is_resource_modified, parse_cookie, parse_date, unquote_etag

from .data import ContentState, Mark, get_data

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

PRIVATE = "private, no-store"
# environ key: (cache key, content tag, post dependency) of a shareable answer
MARK = "blog.page_cache"
PAGE_OF_POST = "page_of_post"  # g: the post whose page this is


# A post page's own dependency: its post's comments, unchanged since the mark.
PostDependency = tuple[int, Mark]


@dataclass(frozen=True)
class _Entry:
    tag: str  # the content tag it was rendered under (posts_tag for a post page)
    expires_at: float
    headers: list[tuple[str, str]]  # as the app answered: security headers, validators
    body: bytes
    post: PostDependency | None = None


class PageCache:
    """Least recently used pages, at most `max_bytes` of bodies (a post page can be a
    200,000-character post with its comments, a home page a few kilobytes)."""

    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.size = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def get(
        self,
        key: str,
        tag: str,
        posts_tag: str = "",
        post_unchanged: Callable[[int, Mark], bool] | None = None,
    ) -> _Entry | None:
        """The entry if it is still what a visitor would get: rendered under this content
        `tag`; a post page, under `posts_tag` with its comments `post_unchanged` since."""
        entry = self._entries.get(key)
        if entry is None or time.monotonic() >= entry.expires_at:
            return None
        if entry.post is None:
            fresh = entry.tag == tag
        else:
            fresh = (
                entry.tag == posts_tag
                and post_unchanged is not None
                and post_unchanged(*entry.post)
            )
        if not fresh:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self,
        key: str,
        tag: str,
        headers: list[tuple[str, str]],
        body: bytes,
        post: PostDependency | None = None,
    ) -> None:
        if len(body) > self.max_bytes:
            return
        self._drop(key)
        expires_at = time.monotonic() + self.seconds
        self._entries[key] = _Entry(tag, expires_at, headers, body, post)
        self.size += len(body)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry.body)


def cache_key(environ: WSGIEnvironment) -> str:
    """Host, path and query: absolute links in feeds and the sitemap come from the host."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    return f"{environ.get('HTTP_HOST', '')}{path}?{environ.get('QUERY_STRING', '')}"


class ServeFromCache:
    """WSGI middleware: a visitor's cached page is answered before Flask runs at all (no
    request context, session, hooks or view), with the headers the app gave it then.

    Only for GET/HEAD without a session cookie (authors and anyone with a flash message
    carry one). Pages get in through `cached_for_visitors`, which marks the request;
    this stores the finished response (after every after_request hook) on its way out.
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApplication, cache: PageCache) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.cache = cache

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._anonymous_read(environ):
            entry = self._entry(environ)
            if entry is not None:
                return _answer(entry, environ, start_response)
        captured: list = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            captured[:] = [status, headers]
            return start_response(status, headers, exc_info)

        body = self.wsgi_app(environ, capture)
        mark = environ.get(MARK)
        if mark is None or not captured or not captured[0].startswith("200"):
            return body
        headers = captured[1]
        if any(name.lower() == "set-cookie" for name, _ in headers):
            return body  # belongs to one client
        chunks = b"".join(body)
        if hasattr(body, "close"):
            body.close()
        if environ.get("REQUEST_METHOD") == "GET":
            self.cache.put(mark[0], mark[1], list(headers), chunks, mark[2])
        return [chunks]

    def _anonymous_read(self, environ: WSGIEnvironment) -> bool:
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return False
        cookie = self.app.config["SESSION_COOKIE_NAME"]
        return cookie not in parse_cookie(environ)

    def _entry(self, environ: WSGIEnvironment) -> _Entry | None:
        data = self.app.extensions["blog_data"]
        try:
            state = data.content_state()
        except redis.RedisError:
            return None  # let the app answer (and say that Redis is down)
        return self.cache.get(
            cache_key(environ), state.tag, state.posts_tag, data.post_comments_unchanged
        )


# The request headers that can make a cached page's answer a 304 (If-Range is ignored
# without a Range, as werkzeug's is_resource_modified does by default).
CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH")


def _answer(entry: _Entry, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    if any(name in environ for name in CONDITIONAL) and _not_modified(entry, environ):
        kept = [(k, v) for k, v in entry.headers if k not in ("Content-Length", "Content-Type")]
        start_response("304 NOT MODIFIED", kept)
        return []
    start_response("200 OK", entry.headers)
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [entry.body]


def _not_modified(entry: _Entry, environ: WSGIEnvironment) -> bool:
    """Whether the conditional request's validators match the cached page (parsing the
    dates costs as much as the rest of a hit, so only conditional requests pay it)."""
    headers = dict(entry.headers)
    etag = headers.get("ETag")
    modified = parse_date(headers.get("Last-Modified"))
    return bool(etag) and not is_resource_modified(
        environ, etag=unquote_etag(etag)[0], last_modified=modified
    )


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
        data = get_data()
        state = data.content_state()
        since = data.content_mark()  # before the view reads anything
        etag = _etag(state)
        if http and not is_resource_modified(
            request.environ, etag=etag, last_modified=_last_modified(state)
        ):
            return _visitor_headers(Response(status=304), state, etag)
        response = make_response(view(*args, **kwargs))
        if response.status_code != 200 or session.modified:
            return response  # an error, or a page that started a session: not shared
        if cache:  # ServeFromCache keeps the finished response
            post_id = g.pop(PAGE_OF_POST, None)
            request.environ[MARK] = (
                (cache_key(request.environ), state.tag, None)
                if post_id is None
                else (cache_key(request.environ), state.posts_tag, (post_id, since))
            )
        return _visitor_headers(response, state, etag) if http else response

    return wrapped


def page_of_post(post_id: int) -> None:
    """Say that the page being rendered is this post's: its cached copy then outlives
    comments on other posts (a comment on this one, or any post write, still ends it)."""
    g.setdefault(PAGE_OF_POST, post_id)


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
        cache = PageCache(seconds, app.config["PAGE_CACHE_MB"] * 1024 * 1024)
        app.extensions["page_cache"] = cache
        # Inside ProxyFix (security.init_app runs later and wraps this), so the host in
        # the key is the one the app itself sees.
        app.wsgi_app = ServeFromCache(app, app.wsgi_app, cache)  # type: ignore[method-assign]
    app.after_request(_private)
