"""Fixed-window rate limits kept in Redis, so every web process shares one count."""

from __future__ import annotations

import time

import redis

from .keys import Keys


class RateLimiter:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def _key(self, action: str, client: str, window_seconds: int) -> str:
        return self.keys.rate(action, client, int(time.time() // window_seconds))

    def hit(self, action: str, client: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one attempt; True while the client is within its limit. 1 round trip."""
        key = self._key(action, client, window_seconds)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds * 2)
            count, _ = pipe.execute()
        return count <= limit

    def hit_all(self, checks: list[tuple[str, str, int]], window_seconds: int) -> None:
        """Count one attempt against each (action, client, limit); 1 round trip."""
        with self.r.pipeline(transaction=True) as pipe:
            for action, client, _ in checks:
                key = self._key(action, client, window_seconds)
                pipe.incr(key)
                pipe.expire(key, window_seconds * 2)
            pipe.execute()

    def exhausted(self, checks: list[tuple[str, str, int]], window_seconds: int) -> bool:
        """Whether any (action, client, limit) has used up its window; nothing is counted.
        1 round trip."""
        keys = [self._key(action, client, window_seconds) for action, client, _ in checks]
        counts = self.r.mget(keys)
        return any(
            int(count or 0) >= limit for count, (_, _, limit) in zip(counts, checks, strict=True)
        )
