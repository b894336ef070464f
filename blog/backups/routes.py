"""/admin/backups: stored backups, recent runs, the schedule and a "Back up now" button."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from ..auth import login_required
from ..data import get_data
from ..queues import BACKUPS_QUEUE, app_rq_connection
from ..templating import plural
from .enqueue import backup_job, backup_jobs, enqueue_backup
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
        counts_text=counts_text,
    )


def counts_text(counts: dict) -> str:
    """ "1 post, 2 comments, 0 images" """
    return ", ".join(
        plural(counts.get(key, 0), noun) for key, noun in BACKUP_COUNTS if key in counts
    )


BACKUP_COUNTS = (("posts", "post"), ("comments", "comment"), ("images", "image"))


def human_size(size: int) -> str:
    """ "840 KB", "12.3 MB" """
    return f"{size / 1048576:.1f} MB" if size >= 1048576 else f"{max(1, round(size / 1024))} KB"


def wants_json() -> bool:
    """The page's script asks for JSON; a plain form post (no script) gets a redirect."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


@bp.get("/admin/backups/jobs/<job_id>")
@login_required
def job_status(job_id: str) -> ResponseReturnValue:
    """A backup job's state and job.meta progress, then its recorded outcome."""
    job = backup_job(job_id)
    run = next((r for r in get_data().backups.runs(50) if r.get("job_id") == job_id), None)
    if job is None:
        if run is None:
            return jsonify(error="No such backup job (finished jobs are kept for a week)."), 404
        job = {"id": job_id, "state": "finished" if run.get("ok") else "failed"}
    body = job
    if run is not None:
        body["outcome"] = {
            "ok": bool(run.get("ok")),
            "key": run.get("key"),
            "size": human_size(run.get("size") or 0),
            "counts": counts_text(run.get("counts") or {}),
            "error": run.get("error"),
        }
    return jsonify(body)


@bp.post("/admin/backups")
@login_required
def run_now() -> ResponseReturnValue:
    waiting = [j for j in backup_jobs() if j["state"] in ("queued", "running")]
    if waiting:  # a double click, or two authors at once: one backup is enough
        message = f"A backup is already {waiting[0]['state']} (job {waiting[0]['id']})."
        job_id, status = waiting[0]["id"], 409
    else:
        job_id = enqueue_backup(trigger=f"web:{g.user['username']}").id
        message = f"Backup queued (job {job_id}); a worker on the '{BACKUPS_QUEUE}' queue runs it."
        status = 202
    if wants_json():
        status_url = url_for("backups.job_status", job_id=job_id)
        return jsonify(job_id=job_id, message=message, status_url=status_url), status
    flash(message)
    return redirect(url_for("backups.index"))
