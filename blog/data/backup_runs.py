"""The backup feature's bookkeeping in Redis: outcomes of runs and the lock.

`backup:runs` (newest first) and `backup:last-good` record what each run did; `/healthz`,
`/admin/backups` and `flask backup list` read them. `backup:lock` keeps two backups or
restores from running at once: a redis-py `Lock` whose expiry is pushed back while its
holder works, so a holder killed with SIGKILL blocks the next run for minutes, not hours.
"""

from __future__ import annotations

import json

import redis
from redis.lock import Lock

from .keys import Keys

RUNS_KEPT = 200


class BackupStore:
    """Outcomes of backup runs and the backup lock."""

    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def record(self, outcome: dict) -> None:
        body = json.dumps(outcome, sort_keys=True)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.lpush(self.keys.backup_runs, body)
            pipe.ltrim(self.keys.backup_runs, 0, RUNS_KEPT - 1)
            if outcome.get("ok"):
                pipe.set(self.keys.backup_last_good, body)
            pipe.execute()

    def runs(self, limit: int = 50) -> list[dict]:
        return [json.loads(x) for x in self.r.lrange(self.keys.backup_runs, 0, limit - 1)]

    def last(self) -> dict | None:
        runs = self.runs(1)
        return runs[0] if runs else None

    def last_good(self) -> dict | None:
        body = self.r.get(self.keys.backup_last_good)
        return json.loads(body) if body else None

    def lock(self, ttl_seconds: int) -> Lock:
        """The backup lock (not yet taken): `acquire(blocking=False)`, `reacquire()` to
        push its expiry back to `ttl_seconds`, `release()`."""
        # Not thread-local: progress callbacks may refresh it from another thread.
        return self.r.lock(
            self.keys.backup_lock, timeout=ttl_seconds, blocking=False, thread_local=False
        )
