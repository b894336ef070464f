from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import (
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue

from processing.archive.format import ReadableFile
from processing.images import (
    EXTENSIONS,
    MIME_BY_EXTENSION,
    MIME_TYPES,
    UnsupportedImage,
    sniff_format,
)

from ..auth import login_required
from ..data import ImageRecord, NotReplicated, get_data
from ..queues import enqueue_image_cleaning
from ..storage import MediaNotFound, app_storage
from . import bp

log = logging.getLogger(__name__)

# An image's bytes never change once ready: caches may keep them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"


def json_error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def media_url(record: ImageRecord, variant: str = "original") -> str:
    return url_for("uploads.media", image_id=record.id, filename=f"{variant}.{record.ext}")


def describe(record: ImageRecord) -> dict:
    body: dict[str, object] = {
        "id": record.id,
        "status": record.status,
        "url": media_url(record),
        "status_url": url_for("uploads.status", image_id=record.id),
        "name": record.original_name,
    }
    if record.status == "ready":
        body.update(
            width=record.width,
            height=record.height,
            removed=record.removed,
            variants=[
                {
                    "name": v.name,
                    "url": media_url(record, v.name),
                    "width": v.width,
                    "height": v.height,
                }
                for v in record.variants
            ],
        )
    elif record.status == "failed":
        body["error"] = record.error
    return body


@bp.route("/uploads", methods=["POST"])
@login_required
def upload() -> ResponseReturnValue:
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return json_error(400, "Choose an image file to upload.")
    limit_mb = current_app.config["MAX_UPLOAD_MB"]
    data = upload.read(limit_mb * 1024 * 1024 + 1)
    if len(data) > limit_mb * 1024 * 1024:
        return json_error(413, f"The image is larger than {limit_mb} MB.")
    if not data:
        return json_error(400, "The file is empty.")
    try:
        fmt = sniff_format(data)
    except UnsupportedImage as error:
        return json_error(415, str(error))
    images = get_data().images
    record = images.create(
        g.user["id"], fmt, EXTENSIONS[fmt], MIME_TYPES[fmt], len(data), upload.filename
    )
    try:
        app_storage().put(record.incoming_key, data, "application/octet-stream")
        enqueue_image_cleaning(record.id)
        get_data().confirm_saved()  # the record and its job, on the replicas too
    except NotReplicated:
        # Stored and queued on the primary, so it may well turn ready: not marked failed,
        # but not promised either (docs/deploy.md, REDIS_WAIT_REPLICAS).
        log.warning("upload %s not confirmed by the replicas", record.id)
        return json_error(
            503, "The upload could not be confirmed as safely stored. Please try again."
        )
    except Exception:
        log.exception("could not hand image %s to the workers", record.id)
        images.mark_failed(record.id, "The upload could not be stored. Please try again.")
        return json_error(503, "The upload could not be stored right now. Please try again.")
    return jsonify(describe(record)), 202


@bp.route("/uploads/<image_id>/status")
@login_required
def status(image_id: str) -> ResponseReturnValue:
    record = get_data().images.get(image_id)
    if record is None or record.owner_id != g.user["id"]:
        return json_error(404, "No such upload.")  # another author's upload does not exist
    return jsonify(describe(record))


@bp.route("/media/<image_id>/<filename>")
def media(image_id: str, filename: str) -> ResponseReturnValue:
    record = get_data().images.get(image_id)
    variant, _, ext = filename.partition(".")
    if (
        record is None
        or record.status != "ready"
        or ext != record.ext
        or ext not in MIME_BY_EXTENSION  # the type served comes from this allowlist only
        or variant not in {v.name for v in record.variants}
    ):
        abort(404)  # processing, failed or unknown: the raw upload is never served
    key = record.storage_key(variant)
    public = app_storage().public_url(key)
    if public:
        return redirect(public, 302)
    try:
        body = app_storage().open(key)
    except MediaNotFound:
        log.warning("media file missing for image %s: %s", image_id, key)
        abort(404)
    response = Response(stream_with_context(_stream_file(body)), mimetype=MIME_BY_EXTENSION[ext])
    response.headers["Cache-Control"] = IMMUTABLE
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _stream_file(body: ReadableFile, size: int = 256 * 1024) -> Iterator[bytes]:
    """A media file streamed to the client in `size` reads, closed at the end."""
    with body:
        while chunk := body.read(size):
            yield chunk
