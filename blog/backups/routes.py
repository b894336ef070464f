"""/admin/backups: stored backups, recent runs, the schedule and a "Back up now" button."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from ..auth import login_required
from ..data import get_data
from ..queues import BACKUPS_QUEUE, app_rq_connection
from .enqueue import backup_jobs, enqueue_backup
from .schedule import registered
from .targets import app_target

log = logging.getLogger(__name__)

bp = Blueprint("backups", __name__)


@bp.get("/admin/backups")
@login_required
def index() -> str:
    data = get_data()
    list_error = None
    try:
        backups = app_target().list()
    except Exception as error:  # the page must say so, not crash
        log.exception("cannot list backups")
        backups, list_error = [], f"{type(error).__name__}: {error}"
    runs = data.backups.runs(20)
    outcomes = {run["key"]: run for run in runs if run.get("ok") and run.get("key")}
    try:
        schedule = registered(app_rq_connection())
    except Exception:
        schedule = None
    return render_template(
        "admin/backups.html",
        backups=backups,
        outcomes=outcomes,
        runs=runs,
        last=runs[0] if runs else None,
        last_good=data.backups.last_good(),
        target=app_target().description,
        list_error=list_error,
        jobs=backup_jobs(),
        schedule=schedule,
        cron=current_app.config["BACKUP_CRON"],
        to_datetime=lambda ts: datetime.fromtimestamp(ts, tz=UTC) if ts else None,
    )


@bp.post("/admin/backups")
@login_required
def run_now() -> ResponseReturnValue:
    waiting = [j for j in backup_jobs() if j["state"] in ("queued", "running")]
    if waiting:  # a double click, or two authors at once: one backup is enough
        flash(f"A backup is already {waiting[0]['state']} (job {waiting[0]['id']}).")
        return redirect(url_for("backups.index"))
    job = enqueue_backup(trigger=f"web:{g.user['username']}")
    flash(f"Backup queued (job {job.id}); a worker on the '{BACKUPS_QUEUE}' queue runs it.")
    return redirect(url_for("backups.index"))
