"""One running job per author and kind (an export format, an import): the claim."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import redis
from redis.typing import EncodableT, FieldT

# running(job_id, claimed_at) -> whether that job still runs or waits to run.
IsRunning = Callable[[str, float], bool]


def claim_job(
    r: redis.Redis, key: str, job_id: str, fields: dict[FieldT, EncodableT], running: IsRunning
) -> tuple[str, bool]:
    """Record `job_id` (with `fields`) in the hash `key` unless the job recorded there
    still runs. Returns (the job id in charge, whether it is ours). WATCH makes two clicks
    at once race safely: the second transaction fails, re-reads, and finds the first."""
    outcome = (job_id, True)

    def attempt(pipe: redis.client.Pipeline) -> None:
        nonlocal outcome
        current = cast("dict[str, str]", pipe.hgetall(key))
        if current and running(current["job_id"], float(current["claimed_at"])):
            outcome = (current["job_id"], False)
            return  # nothing to write: that job still runs
        outcome = (job_id, True)
        pipe.multi()
        pipe.delete(key)
        pipe.hset(key, mapping={**fields, "job_id": job_id, "claimed_at": time.time()})

    r.transaction(attempt, key)
    return outcome
