"""Error pages in the site layout; a missing CSRF token gets a page that says so."""

from __future__ import annotations

import redis
from flask import Flask, current_app, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from .data import NotReplicated

TITLES = {
    400: "Bad request",
    403: "Not yours",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    415: "Unsupported file type",
    429: "Slow down",
    500: "Something went wrong",
    503: "Try again in a moment",
}

# Redis is unreachable, is handing over to a new primary (Sentinel), or could not
# confirm a write on its replicas: nothing is wrong with the request itself.
REDIS_UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.ReadOnlyError,
    NotReplicated,
)


def wants_json() -> bool:
    """Upload endpoints are called by page scripts, which read JSON errors."""
    return request.path.startswith(url_for("uploads.upload")) or (
        request.accept_mimetypes.best == "application/json"
    )


def render_error(error: HTTPException) -> ResponseReturnValue:
    code = error.code or 500
    if code == 413:
        limit = "MAX_IMPORT_MB" if request.endpoint == "imports.start" else "MAX_UPLOAD_MB"
        error.description = (
            f"The upload is larger than {current_app.config[limit]}"
            " MB. Please choose a smaller file."
        )
    if wants_json():
        return jsonify({"error": error.description}), code
    return render_template(
        "error.html", code=code, title=TITLES.get(code, error.name), message=error.description
    ), code


def csrf_error(error: CSRFError) -> ResponseReturnValue:
    error.description = (
        "The form was sent without a valid security token (it may have expired, or the "
        "page was open in another session). Go back, reload the page and try again."
    )
    return render_error(error)


def internal_error(error: Exception) -> ResponseReturnValue:
    return render_error(
        InternalServerError(
            "The blog hit an unexpected error. It has been logged; please try again later."
        )
    )


def redis_unavailable(error: Exception) -> ResponseReturnValue:
    current_app.logger.warning("Redis unavailable: %s: %s", type(error).__name__, error)
    return render_error(
        ServiceUnavailable(
            "The blog's database is not answering right now (it may be switching to its "
            "standby). Please try again in a moment."
        )
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(InternalServerError, internal_error)
    for kind in REDIS_UNAVAILABLE:
        app.register_error_handler(kind, redis_unavailable)
