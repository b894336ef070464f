"""Progress of a job in job.meta (`step`, `done`, `total`), for blog/documents/status.py.

Saved when the step changes and otherwise at most every EVERY_SECONDS, so a job that
reports after each post costs Redis a write a second, not a write a post.
"""

from __future__ import annotations

import time

from rq import get_current_job

EVERY_SECONDS = 0.5


class JobProgress:
    """Call it as progress(step, done, total); outside a worker it does nothing."""

    def __init__(self) -> None:
        self.job = get_current_job()
        self._last = 0.0
        self._step: str | None = None

    def __call__(self, step: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if self.job is None or (step == self._step and now - self._last < EVERY_SECONDS):
            return
        self._step, self._last = step, now
        self.job.meta.update(step=step, done=done, total=total)
        self.job.save_meta()
