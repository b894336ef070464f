"""/healthz: one JSON document for uptime monitors and the PaaS health check.

Each check is a function registered with `@check`; it returns the fields it adds to the
document and a level: "ok", "warning" (someone should look, the site works) or "error"
(the site does not work: the answer is 503). Adding a check is one more decorated
function; a feature keeps its own (the backup age: blog/backups/health.py).

    {"status": "ok", "redis": "ok", "backup": "ok", "last_good_backup_age_seconds": 3600,
     "version": "0.1.0"}

`version` is the installed project's (pyproject.toml), so a monitor sees which release runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, Response, jsonify

from .data import get_data
from .queues import live_workers, queue_stats, scheduler_alive
from .version import __version__

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

LEVELS = ("ok", "warning", "error")
Check = Callable[[], tuple[str, dict]]
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    CHECKS.append(function)
    return function


@check
def redis_check() -> tuple[str, dict]:
    try:
        get_data().ping()
    except Exception as error:  # reported, not raised
        log.warning("health: Redis is unreachable: %s", error)
        return "error", {"redis": "error"}
    return "ok", {"redis": "ok"}


@bp.get("/healthz")
def healthz() -> Response:
    body: dict = {}
    worst = "ok"
    for function in CHECKS:
        level, fields = function()
        body.update(fields)
        worst = max(worst, level, key=LEVELS.index)
    body["status"] = worst
    body["version"] = __version__
    response = jsonify(body)
    response.status_code = 503 if worst == "error" else 200
    response.headers["Cache-Control"] = "no-store"
    return response


@check
def jobs_check() -> tuple[str, dict]:
    """Queues, workers and the scheduler: uploads stay `processing` without a worker, and
    no nightly backup is enqueued without the scheduler."""
    try:
        queues, workers, scheduler = queue_stats(), live_workers(), scheduler_alive()
    except Exception:  # Redis down: redis_check reports it
        return "ok", {"queues": None, "workers": None, "scheduler": "unknown"}
    level = "ok" if workers and scheduler else "warning"
    return level, {
        "queues": queues,
        "workers": workers,
        "scheduler": "ok" if scheduler else "missing",
    }
