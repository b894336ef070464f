"""`GET /jobs/<job id>/status`: a document job's progress as JSON, for its owner only."""

from __future__ import annotations

from flask import Blueprint, g, jsonify
from flask.typing import ResponseReturnValue

from ..auth import login_required
from .status import describe, fetch

bp = Blueprint("documents", __name__)

MAX_JOB_ID = 100  # ids this app makes are far shorter


@bp.get("/jobs/<job_id>/status")
@login_required
def status(job_id: str) -> ResponseReturnValue:
    job = fetch(job_id, owner_id=g.user["id"]) if len(job_id) <= MAX_JOB_ID else None
    if job is None:  # another author's job does not exist
        return jsonify({"error": "No such job."}), 404
    response = jsonify(describe(job))
    response.headers["Cache-Control"] = "no-store"
    return response
