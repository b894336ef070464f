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
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import redis
from redis.connection import ConnectionInterface

from .keys import Keys

INVALIDATE_CHANNEL = "__redis__:invalidate"


@dataclass(frozen=True)
class ContentState:
    version: str  # bumped by every write visitors can see
    changed_at: float  # when the last such write happened (0: before this was recorded)
    newest: float  # publish time of the newest visible post (scheduled posts appear)
    next_change: float | None  # when the next scheduled post appears, without a write

    @property
    def last_modified(self) -> float:
        return max(self.changed_at, self.newest)

    @property
    def tag(self) -> str:
        """Differs whenever any visitor's page may differ (the time as well as the counter:
        a restore starts the counter again)."""
        return f"{self.version}.{self.changed_at:.6f}.{self.newest:.3f}"

    def outlived(self, now: float) -> bool:
        return self.next_change is not None and now >= self.next_change


def mark_changed(pipe: redis.client.Pipeline, keys: Keys) -> None:
    """Queue, inside a write's MULTI, what tells every web process its pages changed
    (SAVE_SCRIPT in posts.py does the same two writes in Lua)."""
    pipe.incr(keys.content_version)
    pipe.set(keys.content_changed_at, time.time())


def read_state(r: redis.Redis, keys: Keys, now: float) -> ContentState:
    """The state as Redis has it now; 1 round trip."""
    pipe = r.pipeline(transaction=False)
    pipe.mget(keys.content_version, keys.content_changed_at)
    pipe.zrevrangebyscore(keys.published, now, "-inf", start=0, num=1, withscores=True)
    pipe.zrangebyscore(keys.published, f"({now}", "+inf", start=0, num=1, withscores=True)
    (version, changed_at), newest, upcoming = pipe.execute()
    return ContentState(
        version=version or "0",
        changed_at=float(changed_at or 0),
        newest=newest[0][1] if newest else 0.0,
        next_change=upcoming[0][1] if upcoming else None,
    )


class ContentWatch:
    """The current ContentState, re-read only after Redis says the version changed."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._lock = threading.Lock()
        self._connection: ConnectionInterface | None = None
        self._pid = 0
        self._state: ContentState | None = None

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

    def _connect(self) -> None:
        if self._pid != os.getpid():  # forked (gunicorn --preload): the socket is the parent's
            self._connection, self._state, self._pid = None, None, os.getpid()
        if self._connection is not None:
            return
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

    def _drain(self) -> bool:
        """Read the invalidations waiting on the socket; False if any (or it broke)."""
        connection = self._connection
        if connection is None:
            return False
        unchanged = True
        try:
            while connection.can_read(timeout=0):
                connection.read_response()
                unchanged = False
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            connection.disconnect()
            self._connection, self._state = None, None
            return False
        return unchanged
