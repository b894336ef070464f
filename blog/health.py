"""/healthz: one JSON document for uptime monitors and the PaaS health check.

Each check is a function registered with `@check`; it returns the fields it adds to the
document and a level: "ok", "warning" (someone should look, the site works) or "error"
(the site does not work: the answer is 503). Adding a check is one more decorated
function; a feature keeps its own (the backup age: blog/backups/health.py). The Redis
check runs first; when Redis does not answer the others are skipped, so a hung Redis
costs one client timeout.

Anonymous callers get only {"status": "ok"}; authors and callers sending
`Authorization: Bearer <HEALTHZ_TOKEN>` get every field:

    {"status": "ok", "redis": "ok", "backup": "ok", "last_good_backup_age_seconds": 3600,
     "version": "0.1.0"}

`version` is the installed project's (pyproject.toml), so a monitor sees which release runs.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

from flask import Blueprint, Response, current_app, g, jsonify, request

from .data import get_data
from .queues import live_workers, queue_stats, scheduler_alive
from .version import __version__

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)

LEVELS = ("ok", "warning", "error")
Check = Callable[[], tuple[str, dict]]
CHECKS: list[Check] = []
# Used memory at or above this share of maxmemory is a warning.
MEMORY_WARNING_RATIO = 0.9


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


@check
def memory_check() -> tuple[str, dict]:
    """A full Redis (noeviction at maxmemory) refuses every write while reads still work."""
    data = get_data()
    used, limit = data.memory()
    writes = "ok" if data.accepts_writes() else "failing"
    ratio = used / limit if limit else None
    level = "error" if writes == "failing" else "ok"
    if level == "ok" and ratio is not None and ratio >= MEMORY_WARNING_RATIO:
        level = "warning"
    return level, {
        "writes": writes,
        "memory": {
            "used_bytes": used,
            "max_bytes": limit,
            "used_ratio": round(ratio, 3) if ratio is not None else None,
        },
    }


@check
def jobs_check() -> tuple[str, dict]:
    """Queues, workers and the scheduler: uploads stay `processing` without a worker, and
    no nightly backup is enqueued without the scheduler."""
    queues, workers, scheduler = queue_stats(), live_workers(), scheduler_alive()
    level = "ok" if workers and scheduler else "warning"
    return level, {
        "queues": queues,
        "workers": workers,
        "scheduler": "ok" if scheduler else "missing",
    }


def run_checks() -> tuple[str, dict]:
    body: dict = {}
    worst = "ok"
    for function in CHECKS:
        try:
            level, fields = function()
        except Exception as error:  # Redis failed in the middle: report, never raise
            log.warning("health: %s failed: %s", function.__name__, error)
            level, fields = "error", {function.__name__.removesuffix("_check"): "error"}
        body.update(fields)
        worst = max(worst, level, key=LEVELS.index)
        if function is redis_check and level == "error":
            break  # the other checks would each wait for the same timeout
    return worst, body


def may_see_details() -> bool:
    """Authors, and monitors sending `Authorization: Bearer <HEALTHZ_TOKEN>` (a header,
    not a query parameter, so the token stays out of access logs)."""
    if getattr(g, "user", None) is not None:
        return True
    token = current_app.config["HEALTHZ_TOKEN"]
    sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(sent.encode(), token.encode())


@bp.get("/healthz")
def healthz() -> Response:
    worst, body = run_checks()
    details = {**body, "status": worst, "version": __version__}
    body = details if may_see_details() else {"status": worst}
    response = jsonify(body)
    response.status_code = 503 if worst == "error" else 200
    response.headers["Cache-Control"] = "no-store"
    return response
