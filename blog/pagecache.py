"""Visitors' pages: rendered once per process and content state, validated over HTTP.

Home, tag and post pages, `/tags`, the feeds and the sitemap look the same to every
anonymous visitor, and most traffic is anonymous. Every write that changes them bumps
the content version in its transaction, and each web process learns of it from Redis
without asking (blog/data/contentwatch.py), so a cached page costs no Redis round trip
and is never shown after a write that changed it. A hit is answered by a WSGI middleware
before Flask runs (ServeFromCache), with the headers the app gave the page. Entries also
expire after PAGE_CACHE_SECONDS.

The web processes of one server (gunicorn's workers) also share what they render
(SharedPages): a page one worker rendered is a file on tmpfs that the others read on
their own miss, instead of rendering it again; judged fresh the same way (content tag,
and a post page's comments by the machine-wide monotonic clock, contentwatch.py). A
blog's long tail of post pages is otherwise rendered once per worker.

The same state gives HTTP validators: `ETag` and `Last-Modified` on visitors' pages, a
`304 Not Modified` without rendering, and `Cache-Control` that lets a CDN keep a page
for HTTP_CACHE_SECONDS (and serve it stale for HTTP_STALE_SECONDS while it revalidates)
while browsers revalidate every time. Authors' pages and pages that carry or set a
session (flash messages, forms with a CSRF token) are `private, no-store`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from flask import Flask, Response, current_app, g, make_response, request, session
from flask.typing import ResponseReturnValue
from werkzeug.http import (
    http_date,
    is_resource_modified,
    parse_cookie,
    parse_date,
    quote_etag,
    unquote_etag,
)

from .data import ContentState, Mark, get_data
from .sessions import vary_on_cookie

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)

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
        if entry is None or not fresh(entry, tag, posts_tag, post_unchanged):
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
    ) -> _Entry:
        entry = _Entry(tag, time.monotonic() + self.seconds, headers, body, post)
        self.keep(key, entry)
        return entry

    def keep(self, key: str, entry: _Entry) -> None:
        """Keep an entry as it is (a page another process rendered keeps its expiry)."""
        if len(entry.body) > self.max_bytes:
            return
        self._drop(key)
        self._entries[key] = entry
        self.size += len(entry.body)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.size -= len(entry.body)


def fresh(
    entry: _Entry,
    tag: str,
    posts_tag: str = "",
    post_unchanged: Callable[[int, Mark], bool] | None = None,
) -> bool:
    """Whether a visitor would get this entry now: rendered under this content `tag`; a
    post page, under `posts_tag` with its comments `post_unchanged` since."""
    if time.monotonic() >= entry.expires_at:
        return False
    if entry.post is None:
        return entry.tag == tag
    return entry.tag == posts_tag and post_unchanged is not None and post_unchanged(*entry.post)


# The shared pages of one server: a fixed number of files (a page goes in the slot its
# key hashes to, replacing whatever was there), so however many addresses are asked
# for, the directory holds at most SHARED_SLOTS pages of at most PAGE_CACHE_MB / 1024
# each (32 KB by default: a long post with its comments and the page around it).
SHARED_SLOTS = 8192
SHARED_FORMAT = b"blog-page 1\n"  # the first line of every file: a format change misses


class SharedPages:
    """Pages rendered by any web process of this server, for the others: one file per
    slot in a private directory on tmpfs (a read or a write costs 15-30 µs, a render of
    a post page some 500). A file holds its key, content tag, expiry, post dependency
    and headers (a JSON line), then the body; it is written aside and renamed into
    place, so a reader sees a whole file or the one before. Anything unexpected (a
    missing, foreign or broken file, a full disk) is a miss: the page is rendered."""

    def __init__(self, directory: Path, max_entry: int) -> None:
        self.directory = directory
        self.max_entry = max_entry

    def _path(self, key: str) -> str:
        slot = zlib.crc32(key.encode()) % SHARED_SLOTS
        return os.path.join(self.directory, f"{slot:04x}")

    def get(self, key: str) -> _Entry | None:
        try:
            with open(self._path(key), "rb") as f:
                raw = f.read()
        except OSError:
            return None
        head, newline, rest = raw.partition(b"\n")
        meta, newline2, body = rest.partition(b"\n")
        if head + newline != SHARED_FORMAT or not newline2:
            return None
        try:
            k, tag, expires_at, post, headers, length = json.loads(meta)
        except (ValueError, TypeError):
            return None
        if k != key or length != len(body):
            return None  # another page in the same slot, or a file cut short
        dependency = (post[0], post[1]) if post else None
        return _Entry(tag, expires_at, [(n, v) for n, v in headers], body, dependency)

    def put(self, key: str, entry: _Entry) -> None:
        if len(entry.body) > self.max_entry:
            return
        body = entry.body
        meta = json.dumps([key, entry.tag, entry.expires_at, entry.post, entry.headers, len(body)])
        path = self._path(key)
        # Written aside under a name of this thread's own (threaded workers), then renamed.
        aside = f"{path}.{os.getpid()}.{threading.get_ident()}"
        try:
            fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with open(fd, "wb") as f:
                f.write(SHARED_FORMAT + meta.encode() + b"\n" + body)
            os.replace(aside, path)
        except OSError as error:  # a full tmpfs: the page is simply not shared
            log.debug("page not shared: %s", error)
            with contextlib.suppress(OSError):
                os.unlink(aside)


# Where servers keep their shared pages: tmpfs, memory rather than disk (a write to an
# ordinary disk costs as much as the render it saves).
SHARED_ROOT = Path("/dev/shm")
SHARED_PREFIX = "blog-pages-"


def shared_directory(setting: str, identity: str) -> Path | None:
    """This server's private directory for shared pages, or None (sharing off).

    `setting`: PAGE_CACHE_DIR, "auto" (under /dev/shm where it exists), a directory, or
    "" (off). The directory is named for the user, the server (the web processes'
    parent: gunicorn's master, so a restart or a deploy starts empty) and `identity`
    (which Redis, key prefix and release: two blogs on one machine never share pages,
    nor do two versions of the code). Those of
    servers no longer running are removed. A directory that is not ours alone (another
    user could have made it first, or opened it up) turns sharing off."""
    if setting == "auto":
        if not SHARED_ROOT.is_dir() or not os.access(SHARED_ROOT, os.W_OK):
            return None
        root = SHARED_ROOT
    elif setting:
        root = Path(setting)
    else:
        return None
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    uid, server = os.getuid(), os.getppid()
    _remove_stale(root, uid)
    directory = root / f"{SHARED_PREFIX}{uid}-{server}-{digest}"
    try:
        directory.mkdir(mode=0o700, parents=False, exist_ok=True)
        info = os.lstat(directory)
    except OSError as error:
        log.warning("page cache: not sharing pages between processes (%s)", error)
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid or info.st_mode & 0o077:
        log.warning("page cache: %s is not private to this user; not sharing pages", directory)
        return None
    return directory


def _remove_stale(root: Path, uid: int) -> None:
    """Remove this user's shared page directories whose server is gone (tmpfs is memory)."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        parts = name.removeprefix(SHARED_PREFIX).split("-")
        if not name.startswith(SHARED_PREFIX) or len(parts) != 3 or parts[0] != str(uid):
            continue
        try:
            os.kill(int(parts[1]), 0)
            continue  # its server still runs
        except ProcessLookupError:
            pass
        except (ValueError, OSError):
            continue
        path = root / name
        if os.lstat(path).st_uid == uid and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


# The only query arguments a cached view (or its templates) reads: a listing's page
# number and a post page's thanks for a comment. Links people share carry others
# (utm_source, fbclid...) that change nothing on the page: they are left out of the key,
# so such a visit is a hit. A view behind cached_for_visitors must read no other.
CACHE_ARGUMENTS = frozenset({"page", "comment"})


def cache_key(environ: WSGIEnvironment) -> str:
    """Host, path and the query arguments that matter: absolute links in feeds and the
    sitemap come from the host."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if query:
        query = _arguments_that_matter(query)
    return f"{environ.get('HTTP_HOST', '')}{path}?{query}"


def _arguments_that_matter(query: str) -> str:
    """The query's CACHE_ARGUMENTS, as sent and in order (werkzeug reads the first of a
    repeated one). Names are compared as sent: a name with a %-escape (which werkzeug
    decodes, so "p%61ge" is "page") keeps the whole query in the key, or its page could
    be stored under the address without it."""
    kept = []
    for part in query.split("&"):  # werkzeug's separator (parse_qsl)
        name = part.partition("=")[0]
        if "%" in name:
            return query
        if name in CACHE_ARGUMENTS:
            kept.append(part)
    return "&".join(kept)


class ServeFromCache:
    """WSGI middleware: a visitor's cached page is answered before Flask runs at all (no
    request context, session, hooks or view), with the headers the app gave it then.

    Only for GET/HEAD without a session cookie (authors and anyone with a flash message
    carry one). Pages get in through `cached_for_visitors`, which marks the request;
    this stores the finished response (after every after_request hook) on its way out.
    """

    def __init__(
        self,
        app: Flask,
        wsgi_app: WSGIApplication,
        cache: PageCache,
        shared: SharedPages | None = None,
    ) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.cache = cache
        self.shared = shared

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
            entry = self.cache.put(mark[0], mark[1], list(headers), chunks, mark[2])
            if self.shared is not None:
                self.shared.put(mark[0], entry)
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
        key = cache_key(environ)
        unchanged = data.post_comments_unchanged
        entry = self.cache.get(key, state.tag, state.posts_tag, unchanged)
        if entry is None and self.shared is not None:
            entry = self.shared.get(key)  # another worker may have rendered it
            if entry is None or not fresh(entry, state.tag, state.posts_tag, unchanged):
                return None
            self.cache.keep(key, entry)
        return entry


# The request headers that can make a cached page's answer a 304 (If-Range is ignored
# without a Range, as werkzeug's is_resource_modified does by default).
CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH")


def _conditional(environ: WSGIEnvironment) -> bool:
    """Whether the request could be answered 304 (most are not conditional at all)."""
    return any(name in environ for name in CONDITIONAL)


def _answer(entry: _Entry, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
    if _conditional(environ) and _not_modified(entry, environ):
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


@functools.lru_cache(maxsize=16)
def _validators(
    state: ContentState, etag: str, shared_seconds: int, stale_seconds: int
) -> tuple[str, str | None, str]:
    """The ETag, Last-Modified and Cache-Control values of every visitor's page in one
    content state: formatted once per state (the date alone costs as much as the rest of
    the headers), not on every miss."""
    modified = _last_modified(state)
    return (
        quote_etag(etag),
        http_date(modified) if modified else None,
        f"public, max-age=0, s-maxage={shared_seconds}, stale-while-revalidate={stale_seconds}",
    )


def _visitor_headers(response: Response, state: ContentState, etag: str) -> Response:
    config = current_app.config
    quoted, modified, control = _validators(
        state, etag, config["HTTP_CACHE_SECONDS"], config["HTTP_STALE_SECONDS"]
    )
    headers = response.headers
    headers["ETag"] = quoted
    if modified is None:
        headers.pop("Last-Modified", None)
    else:
        headers["Last-Modified"] = modified
    headers["Cache-Control"] = control
    vary_on_cookie(response)  # an author's request (with a cookie) is a different page
    return response


def cached_for_visitors(view: Callable) -> Callable:
    """Serve the view's page to visitors from the page cache (and HTTP validators). The
    view must read no query argument but CACHE_ARGUMENTS: the others are not in the key."""

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
        if (
            http
            and _conditional(request.environ)
            and not is_resource_modified(
                request.environ, etag=etag, last_modified=_last_modified(state)
            )
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
    # The header check last: a miss costs Werkzeug an exception, and visitors' pages miss.
    if (
        g.get("user") is not None or session.modified or "_flashes" in session
    ) and "Cache-Control" not in response.headers:
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
        budget = app.config["PAGE_CACHE_MB"] * 1024 * 1024
        cache = PageCache(seconds, budget)
        app.extensions["page_cache"] = cache
        identity = "|".join(
            str(app.config.get(name))
            for name in (
                "REDIS_URL",
                "REDIS_SENTINELS",
                "REDIS_SENTINEL_MASTER",
                "KEY_PREFIX",
                "RELEASE_TAG",  # gunicorn reloaded with new code keeps its master
            )
        )
        directory = shared_directory(app.config["PAGE_CACHE_DIR"], identity)
        shared = SharedPages(directory, budget // 1024) if directory else None
        # Inside ProxyFix (security.init_app runs later and wraps this), so the host in
        # the key is the one the app itself sees.
        app.wsgi_app = ServeFromCache(  # type: ignore[method-assign]
            app, app.wsgi_app, cache, shared
        )
    app.after_request(_private)
