"""/export: build a document of the blog in a worker, watch it, download it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import IO, Any, cast

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from wtforms.fields.choices import SelectChoice

from ..auth import login_required
from ..data import get_data
from ..documents import status as job_status
from ..documents.queue import enqueue_document
from ..storage import MediaNotFound, MediaStorage
from .forms import BuildForm, CancelForm
from .service import DOWNLOAD_URL_SECONDS, FORMATS

bp = Blueprint("exports", __name__)


def _storage() -> MediaStorage:
    return current_app.extensions["media_storage"]


def _build_form() -> BuildForm:
    form = BuildForm()
    form.tag.choices = [SelectChoice("", "All posts")] + [
        SelectChoice(name, f"{name} ({count})") for name, count in get_data().posts.tag_counts()
    ]
    return form


def _expires(file: dict[str, str]) -> datetime | None:
    if not file:
        return None
    built = datetime.fromtimestamp(float(file["finished_at"]), tz=UTC)
    return built + timedelta(hours=current_app.config["EXPORT_KEEP_HOURS"])


def _formats_state(user_id: int) -> list[dict[str, Any]]:
    """Per format: the running or last build (from RQ) and the last finished file."""
    exports, now = get_data().exports, datetime.now(UTC)
    rows = []
    for fmt in FORMATS.values():
        build = exports.build(user_id, fmt.name)
        job = job_status.fetch(build["job_id"], user_id) if build else None
        file = exports.last_file(user_id, fmt.name)
        expires = _expires(file)
        rows.append(
            {
                "format": fmt,
                "build": build,
                "job": job_status.describe(job) if job else None,
                "file": file if expires and expires > now else None,
                "expires": expires,
            }
        )
    return rows


@bp.get("/export")
@login_required
def index() -> ResponseReturnValue:
    return render_template(
        "export.html",
        form=_build_form(),
        cancel_form=CancelForm(),
        formats=_formats_state(g.user["id"]),
        keep_hours=current_app.config["EXPORT_KEEP_HOURS"],
    )


@bp.post("/export")
@login_required
def build() -> ResponseReturnValue:
    form = _build_form()
    if not form.validate():
        for errors in form.errors.values():
            for error in errors:
                flash(error)
        return redirect(url_for("exports.index"))
    fmt, tag = form.format.data, form.tag.data if form.format.data == "epub" else ""
    user_id = g.user["id"]
    job_id = f"export-{fmt}-{user_id}-{secrets.token_hex(6)}"
    _, ours = get_data().exports.claim_build(user_id, fmt, job_id, tag, job_status.is_running)
    if not ours:  # a second click, or a second tab: show the build that runs
        flash(f"Your {FORMATS[fmt].label} is already being built.")
        return redirect(url_for("exports.index"))
    enqueue_document(
        "jobs.export.build_document",
        owner_id=user_id,
        job_id=job_id,
        description=f"Build {FORMATS[fmt].label} for {g.user['username']}",
        on_stopped="jobs.export.build_stopped",
        user_id=user_id,
        fmt=fmt,
        tag=tag,
        site_url=request.host_url,
    )
    flash(f"Building your {FORMATS[fmt].label}.")
    return redirect(url_for("exports.index"))


@bp.post("/export/cancel")
@login_required
def cancel() -> ResponseReturnValue:
    form = CancelForm()
    if not form.validate():
        abort(400)
    build = get_data().exports.build(g.user["id"], form.format.data)
    job = job_status.fetch(build["job_id"], g.user["id"]) if build else None
    if job is None or job_status.state(job) not in job_status.LIVE_STATES:
        flash("That build has already ended.")
    else:
        job_status.cancel(job)
        flash(f"Cancelled the {FORMATS[form.format.data].label}; its partial file is removed.")
    return redirect(url_for("exports.index"))


@bp.get("/export/<fmt>/download")
@login_required
def download(fmt: str) -> ResponseReturnValue:
    """S3: a presigned link valid 10 minutes. Locally: the file, to its owner only."""
    if fmt not in FORMATS:
        abort(404)
    file = get_data().exports.last_file(g.user["id"], fmt)
    expires = _expires(file)
    if expires is None or expires <= datetime.now(UTC):
        abort(404)
    url = _storage().download_url(file["key"], file["name"], DOWNLOAD_URL_SECONDS)
    if url:
        return redirect(url, 303)
    try:
        body = _storage().open(file["key"])
    except MediaNotFound:
        abort(404)
    response = send_file(
        cast("IO[bytes]", body),  # without a download URL the storage is a local file
        mimetype=FORMATS[fmt].mime_type,
        as_attachment=True,
        download_name=file["name"],
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
