"""/import: upload a WordPress export file; a worker imports it while the page shows
its progress, then the report."""

from __future__ import annotations

import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.datastructures import FileStorage

from ..auth import login_required
from ..data import get_data
from ..documents import status as job_status
from ..documents.queue import enqueue_document
from ..storage import app_storage
from .service import upload_key

bp = Blueprint("imports", __name__)

MB = 1024 * 1024
FORM_OVERHEAD = 64 * 1024  # the multipart framing and the CSRF token around the file
MAX_FILE_NAME = 255


def _limit() -> int:
    return int(current_app.config["MAX_IMPORT_MB"]) * MB


def _latest(user_id: int) -> tuple[dict, dict | None]:
    latest = get_data().imports.latest(user_id)
    job = job_status.fetch(latest["job_id"], user_id) if latest else None
    return latest, job_status.describe(job) if job else None


@bp.get("/import")
@login_required
def index() -> ResponseReturnValue:
    latest, job = _latest(g.user["id"])
    return render_template(
        "import.html",
        form=FlaskForm(),
        latest=latest,
        job=job,
        limit_mb=current_app.config["MAX_IMPORT_MB"],
    )


def _problem(upload: FileStorage | None) -> str | None:
    if upload is None or not upload.filename:
        return "Choose the WordPress export file (.xml) to import."
    if len(upload.filename) > MAX_FILE_NAME:
        return f"The file name is longer than {MAX_FILE_NAME} characters."
    if not upload.filename.lower().endswith(".xml"):
        return "Choose the .xml file that WordPress's Tools > Export gives."
    return None


@bp.url_value_preprocessor
def _allow_large_file(endpoint: str | None, values: dict | None) -> None:
    """Only POST /import takes files this large. Set before any before_request hook
    (CSRFProtect reads the form in one): Werkzeug then answers 413 past the limit and
    spools the file to disk as it arrives, so it never sits whole in memory."""
    if endpoint == "imports.start":
        request.max_content_length = _limit() + FORM_OVERHEAD


@bp.post("/import")
@login_required
def start() -> ResponseReturnValue:
    form = FlaskForm()
    upload = request.files.get("file")
    problem = "The form expired; please try again." if not form.validate() else _problem(upload)
    if problem or upload is None:
        flash(problem or "Choose a file.")
        return redirect(url_for("imports.index"))
    if upload.stream.seek(0, 2) > _limit():  # within the form's allowance, past the file's
        abort(413)
    upload.stream.seek(0)
    name, user_id = upload.filename or "", g.user["id"]
    job_id = f"import-{user_id}-{secrets.token_hex(6)}"
    key = upload_key(user_id, job_id)
    app_storage().put_file(key, upload.stream, "application/xml")  # streamed
    _, ours = get_data().imports.claim(user_id, job_id, name, job_status.is_running)
    if not ours:
        app_storage().delete(key)
        flash("An import is already running; wait for it to finish.")
        return redirect(url_for("imports.index"))
    enqueue_document(
        "jobs.imports.import_wordpress",
        owner_id=user_id,
        job_id=job_id,
        description=f"Import {name} for {g.user['username']}",
        user_id=user_id,
        key=key,
    )
    flash(f"Importing {name}.")
    return redirect(url_for("imports.index"))
