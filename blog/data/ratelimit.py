"""Fixed-window rate limits kept in Redis, so every web process shares one count."""

from __future__ import annotations

import time

import redis

from .keys import Keys


class RateLimiter:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def hit(self, action: str, client: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one attempt; True while the client is within its limit. 1 round trip."""
        window = int(time.time() // window_seconds)
        key = self.keys.rate(action, client, window)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds * 2)
            count, _ = pipe.execute()
        return count <= limit
