"""rq-dashboard, mounted at /admin/jobs behind author login: queues, workers, failed
jobs (with their tracebacks) and a button to retry them."""

from __future__ import annotations

from urllib.parse import urlsplit

import rq_dashboard
from flask import Flask, abort, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import CSRFProtect
from rq_dashboard.web import setup_rq_connection

URL_PREFIX = "/admin/jobs"


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
    app.before_request_funcs.setdefault(rq_dashboard.blueprint.name, []).append(
        lambda: setattr(app, "redis_conn", app.extensions["rq_connection"])
    )
    app.before_request(guard_dashboard)


def guard_dashboard() -> ResponseReturnValue | None:
    if request.blueprint != "rq_dashboard":
        return None
    from flask import g

    if g.user is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if request.method == "POST":
        origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
        if urlsplit(origin).netloc != request.host:
            abort(403, "Job actions must come from the dashboard page itself.")
    return None
