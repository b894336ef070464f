"""Sliding-window rate limits kept in Redis, so every web process shares one count.

Each (action, client) has a sorted set of its recent attempts scored by time: a limit of
N per window allows N attempts in *any* window-long span, with no burst of 2N across a
fixed window's boundary (and tests do not depend on where the wall clock's minute falls).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import redis

from .keys import Keys

# Forget attempts older than the window, then count one if the client is within its limit.
_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""


class RateLimiter:
    def __init__(self, r: redis.Redis, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.keys = keys
        self.clock = clock
        self._hit = r.register_script(_HIT)

    def hit(self, action: str, client: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one attempt; True while the client is within its limit (a refused
        attempt is not counted). 1 round trip."""
        now = self.clock()
        key = self.keys.rate(action, client)
        return bool(self._hit(keys=[key], args=[now, window_seconds, limit, _member(now)]))

    def hit_all(self, checks: list[tuple[str, str, int]], window_seconds: int) -> None:
        """Count one attempt against each (action, client, limit); 1 round trip."""
        now = self.clock()
        with self.r.pipeline(transaction=True) as pipe:
            for action, client, _ in checks:
                key = self.keys.rate(action, client)
                pipe.zremrangebyscore(key, "-inf", f"({now - window_seconds}")
                pipe.zadd(key, {_member(now): now})
                pipe.expire(key, window_seconds)
            pipe.execute()

    def exhausted(self, checks: list[tuple[str, str, int]], window_seconds: int) -> bool:
        """Whether any (action, client, limit) has used up the last window; nothing is
        counted. 1 round trip."""
        since = self.clock() - window_seconds
        with self.r.pipeline(transaction=False) as pipe:
            for action, client, _ in checks:
                pipe.zcount(self.keys.rate(action, client), since, "+inf")
            counts = pipe.execute()
        return any(count >= limit for count, (_, _, limit) in zip(counts, checks, strict=True))


def _member(now: float) -> str:
    """Unique per attempt: two attempts in the same microsecond both count."""
    return f"{now:.6f}:{secrets.token_hex(4)}"
