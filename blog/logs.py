"""Logs for a PaaS: plain lines on stdout, one per event, with the job id in job lines."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s%(job)s: %(message)s"


class JobIdFilter(logging.Filter):
    """Adds ` job=<id>` to lines logged while an RQ job runs, so one job's lines can be
    found among many workers'."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rq import get_current_job

        try:
            job = get_current_job()
        except Exception:  # no connection in this process: not inside a job
            job = None
        record.job = f" job={job.id}" if job is not None else ""
        return True


class _BlogHandler(logging.StreamHandler):
    """The handler `configure` installs, recognisable so a second call adds none."""


def configure(level: str = "INFO") -> None:
    """One stdout handler on the root logger; safe to call more than once."""
    root = logging.getLogger()
    if any(isinstance(h, _BlogHandler) for h in root.handlers):
        return
    handler = _BlogHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(JobIdFilter())
    root.addHandler(handler)
    root.setLevel(level)
