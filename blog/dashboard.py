"""rq-dashboard, mounted at /admin/jobs behind author login: queues, workers, failed
jobs (with their tracebacks) and a button to retry them.

Our guard, not rq-dashboard, decides what may change state: every dashboard route that
accepts POST changes something (requeue, delete, empty, compact), so it is refused
unless it comes as a POST from a page of this very site (Origin, else Referer). A GET
to such a route (rq-dashboard itself answers GET on /requeue/<queue>) is a 405.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import rq_dashboard
from flask import Flask, abort, g, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import CSRFProtect
from rq_dashboard.web import setup_rq_connection

from .queues import compact_queue

URL_PREFIX = "/admin/jobs"
COMPACT_ENDPOINT = "rq_dashboard.compact_queue"


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    app.config["RQ_DASHBOARD_REDIS_URL"] = app.config["REDIS_URL"]
    # rq-dashboard copies a REDIS_SENTINELS it finds (its legacy option name) with a
    # warning; it never uses the copy, as the app's own client is pinned below.
    app.config["RQ_DASHBOARD_REDIS_SENTINELS"] = app.config.get("REDIS_SENTINELS", [])
    setup_rq_connection(app)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
    # The dashboard's own scripts post without our CSRF token; its POSTs are guarded by
    # login, SameSite=Lax cookies and the same-origin check below instead.
    csrf.exempt(rq_dashboard.blueprint)
    # rq-dashboard builds a client from RQ_DASHBOARD_REDIS_URL before every request; after
    # its hook, hand it the app's own RQ client (which follows Sentinel failovers too).
    hooks = app.before_request_funcs.setdefault(rq_dashboard.blueprint.name, [])
    hooks.append(lambda: setattr(app, "redis_conn", app.extensions["rq_connection"]))
    # The dashboard's hooks run after the app's (load_logged_in_user sets g.user): first of
    # them, the guard, which no other page then pays for.
    hooks.insert(0, guard_dashboard)
    app.view_functions[COMPACT_ENDPOINT] = compact


def _changes_state() -> bool:
    return request.url_rule is not None and "POST" in (request.url_rule.methods or ())


def guard_dashboard() -> ResponseReturnValue | None:
    if g.user is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if _changes_state():
        if request.method != "POST":
            abort(405)
        origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
        if urlsplit(origin).netloc != request.host:
            abort(403, "Job actions must come from the dashboard page itself.")
    return None


def compact(queue_name: str) -> ResponseReturnValue:
    """rq-dashboard's "compact", which answered an empty queue with a 500: said instead."""
    if not compact_queue(queue_name):
        return jsonify(status=f"The queue {queue_name!r} is empty: nothing to compact.")
    return jsonify(status="OK")
