"""What visitors see, and when it last changed, known to each web process without asking.

Every write that changes a visitor's page bumps the content version in its transaction
(`mark_changed`) or its Lua script (a post's save: SAVE_SCRIPT in posts.py). A web
process keeps the current `ContentState` in memory and learns of a change from Redis
itself: server-assisted client-side caching (`CLIENT TRACKING` in broadcast mode on the
version key, redirected to the same connection, which is subscribed to
`__redis__:invalidate`). Redis 7.0 is enough (redis-py's own client cache
needs 7.4).

Why a hit is never stale after a write: Redis queues the invalidation message on this
connection while it runs the writer's EXEC or script, and writes it to our socket
before it writes the writer's reply (BCAST invalidations are sent before pending replies, in the
same event-loop turn). So by the time a writer knows its write happened, the message is
in this process's socket buffer (on one host; across hosts, one network hop ahead of
the writer's answer), and every `current()` reads the socket first (a non-blocking poll:
no round trip). A lost connection drops the tracking with it, so `current()` then
reads again over a new one; `PAGE_CACHE_SECONDS` still bounds any page's age.

Comments change their own post page and the listings (comment counts), not the other
post pages: a comment write (`mark_comments_changed`) changes `cache:version:comments`
and writes the post's signal key `cache:version:post:<id>`, both under the tracked
prefix. Each process remembers, per signal key, when (on the monotonic clock) it read
the last message about it. A post page is cached with the time taken *before* its reads
(`mark`) and stays fresh while no message about its post was read after that time
(`post_unchanged`): a comment that lands before the page's read is fine either way; one
that lands after it is written after the mark, so its message is read after the mark
too, and the same ordering as above puts that message in our socket before the writer
hears back. The monotonic clock is the machine's, not the process's, so this holds for
a page another process on the same machine rendered (the shared page cache,
blog/pagecache.py) just as for our own. A new connection (messages may have been lost)
or a flush starts afresh: no post page marked before that time counts as fresh.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from functools import cached_property

import redis
from redis.connection import ConnectionInterface

from .keys import Keys, split_key

INVALIDATE_CHANNEL = "__redis__:invalidate"
POST_SIGNAL_SECONDS = 60  # the signal key's life: only its writing matters
MAX_POST_SIGNALS = 100_000  # past this many remembered posts, start afresh


@dataclass(frozen=True)
class ContentState:
    version: str  # bumped by every write visitors can see, but comments
    changed_at: float  # when the last such write happened (0: before this was recorded)
    newest: float  # publish time of the newest visible post (scheduled posts appear)
    next_change: float | None  # when the next scheduled post appears, without a write
    comments: str = "0"  # bumped by every change to visible comments
    comments_changed_at: float = 0.0  # when the last such change happened

    @property
    def last_modified(self) -> float:
        return max(self.changed_at, self.comments_changed_at, self.newest)

    @cached_property  # a cached page's request asks for it up to four times
    def posts_tag(self) -> str:
        """Differs whenever a post page may differ, but for its comments (the time as
        well as the counter: a restore starts the counter again)."""
        return f"{self.version}.{self.changed_at:.6f}.{self.newest:.3f}"

    @cached_property
    def tag(self) -> str:
        """Differs whenever any visitor's page may differ."""
        return f"{self.posts_tag}.{self.comments}.{self.comments_changed_at:.6f}"

    def outlived(self, now: float) -> bool:
        return self.next_change is not None and now >= self.next_change


def mark_changed(pipe: redis.client.Pipeline, keys: Keys) -> None:
    """Queue, inside a write's MULTI, what tells every web process its pages changed
    (SAVE_SCRIPT in posts.py does the same two writes in Lua)."""
    pipe.incr(keys.content_version)
    pipe.set(keys.content_changed_at, time.time())


def mark_comments_changed(pipe: redis.client.Pipeline, keys: Keys, post_id: int) -> None:
    """Queue, inside a write's MULTI, what tells every web process that a post's visible
    comments changed: its page, and listings (their comment counts), but no other post
    page. The signal key only has to be written; it expires on its own."""
    pipe.hincrby(keys.content_comments, "n", 1)
    pipe.hset(keys.content_comments, "at", time.time())
    pipe.set(keys.content_post(post_id), 1, ex=POST_SIGNAL_SECONDS)


def read_state(r: redis.Redis, keys: Keys, now: float) -> ContentState:
    """The state as Redis has it now; 1 round trip."""
    pipe = r.pipeline(transaction=False)
    pipe.mget(keys.content_version, keys.content_changed_at)
    pipe.hmget(keys.content_comments, "n", "at")
    pipe.zrevrangebyscore(keys.published, now, "-inf", start=0, num=1, withscores=True)
    pipe.zrangebyscore(keys.published, f"({now}", "+inf", start=0, num=1, withscores=True)
    (version, changed_at), (comments, comments_at), newest, upcoming = pipe.execute()
    return ContentState(
        version=version or "0",
        changed_at=float(changed_at or 0),
        newest=newest[0][1] if newest else 0.0,
        next_change=upcoming[0][1] if upcoming else None,
        comments=comments or "0",
        comments_changed_at=float(comments_at or 0),
    )


# When a page's reads began, on the machine's monotonic clock (time.monotonic()).
Mark = float


class ContentWatch:
    """The current ContentState, re-read only after Redis says the version changed."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._lock = threading.Lock()
        self._connection: ConnectionInterface | None = None
        self._pid = 0
        self._state: ContentState | None = None
        self._post_signal_head = split_key(keys.content_post)[0]
        # Every message since this time has been read (inf: no connection yet).
        self._complete_since = math.inf
        self._post_signals: dict[str, float] = {}  # signal key -> when its last message came

    def current(self) -> ContentState:
        """0 round trips while nothing changed; 1 after a change (2 more on connecting)."""
        with self._lock:
            now = time.time()
            self._connect()
            if self._drain() and self._state is not None and not self._state.outlived(now):
                return self._state
            self._connect()  # again if the drain found the connection lost
            # Tracking is on before this read: any later write leaves a message waiting.
            self._state = read_state(self.r, self.keys, now)
            return self._state

    def mark(self) -> Mark:
        """Now, after the messages waiting were read; call current() first (it reads them)."""
        with self._lock:
            return time.monotonic()

    def post_unchanged(self, post_id: int, since: Mark) -> bool:
        """No message about this post's comments read after `since`, and none missed since
        (`since` may come from another process on this machine: the clock is shared).
        Call current() first, so that the messages waiting have been read."""
        with self._lock:
            if since < self._complete_since:
                return False
            return self._post_signals.get(self.keys.content_post(post_id), -math.inf) < since

    def _forget_signals(self) -> None:
        """Messages may be lost (a new connection) or too many to keep: no post page
        marked before now counts as fresh (on a new connection, _connect moves this on
        to when its tracking is on)."""
        self._complete_since = time.monotonic()
        self._post_signals.clear()

    def _connect(self) -> None:
        if self._pid != os.getpid():  # forked (gunicorn --preload): the socket is the parent's
            self._connection, self._state, self._pid = None, None, os.getpid()
        if self._connection is not None:
            return
        self._forget_signals()
        pool = self.r.connection_pool
        # RESP2 on this one connection (redis-py 8 speaks RESP3 by default): invalidations
        # then arrive as plain pub/sub messages on the channel below.
        connection = pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})
        connection.connect()
        connection.send_command("CLIENT", "ID")
        client_id = connection.read_response()
        commands = [
            ("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST")
            + ("PREFIX", self.keys.content_version),
            ("SUBSCRIBE", INVALIDATE_CHANNEL),
        ]
        connection.send_packed_command(connection.pack_commands(commands))
        for _ in commands:
            connection.read_response()
        self._connection, self._state = connection, None
        # Tracking is on: every write from now on leaves a message on this connection.
        self._complete_since = time.monotonic()

    def _drain(self) -> bool:
        """Read the invalidations waiting on the socket; False if any (or it broke)."""
        connection = self._connection
        if connection is None:
            return False
        unchanged = True
        try:
            while connection.can_read(timeout=0):
                self._note(connection.read_response())
                unchanged = False
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
            self._connection, self._state = None, None
            return False
        return unchanged

    def _note(self, message: object) -> None:
        """Remember which post signals an invalidation names, and when it was read. Any
        message also makes current() read the state again (a comment changes listings
        too)."""
        now = time.monotonic()
        keys = message[2] if isinstance(message, list) and len(message) == 3 else None
        if not isinstance(keys, list):  # FLUSHDB/FLUSHALL (no key names): everything
            self._forget_signals()
            return
        if len(self._post_signals) > MAX_POST_SIGNALS:
            self._forget_signals()
        for key in keys:
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name.startswith(self._post_signal_head):
                self._post_signals[name] = now
