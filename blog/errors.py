"""Error pages in the site layout; a missing CSRF token gets a page that says so."""

from __future__ import annotations

import redis
from flask import Flask, Response, current_app, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    SecurityError,
    ServiceUnavailable,
)

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
# Submitted fields never shown back on the "cannot save" page.
NOT_KEPT_FIELDS = frozenset({"csrf_token", "password", "website"})

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


def redis_unavailable(error: Exception) -> Response:
    """Redis hung, down or failing over: a clear 503 within the client's timeout, not a
    worker stuck until gunicorn kills it."""
    current_app.logger.warning("Redis unavailable: %s: %s", type(error).__name__, error)
    return _retry_later(
        render_error(
            ServiceUnavailable(
                "The blog's database is not answering right now (it may be switching to its "
                "standby). Please try again in a moment."
            )
        )
    )


def redis_full(error: Exception) -> Response:
    """Redis at maxmemory (noeviction) refuses writes; reads still work. The writer gets
    what they typed back, so nothing is lost."""
    current_app.logger.error("Redis refuses writes (out of memory): %s", error)
    message = "The blog cannot save right now, your text is kept. Please try again later."
    if wants_json():
        return _retry_later((jsonify({"error": message}), 503))
    kept = [
        (name, value)
        for name, value in request.form.items(multi=True)
        if name not in NOT_KEPT_FIELDS and value.strip()
    ]
    page = render_template("unsaved.html", title=TITLES[503], message=message, kept=kept, code=503)
    return _retry_later((page, 503))


def _retry_later(value: ResponseReturnValue) -> Response:
    response = current_app.make_response(value)
    response.headers["Retry-After"] = "60"
    return response


def untrusted_host(error: SecurityError) -> ResponseReturnValue:
    """A Host (or X-Forwarded-Host) outside TRUSTED_HOSTS: no URL can be built for it, so
    the answer is plain text, not a page of the site."""
    return "Unknown host.", 400, {"Content-Type": "text/plain; charset=utf-8"}


def init_app(app: Flask) -> None:
    app.register_error_handler(SecurityError, untrusted_host)
    app.register_error_handler(redis.OutOfMemoryError, redis_full)
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(InternalServerError, internal_error)
    for kind in REDIS_UNAVAILABLE:
        app.register_error_handler(kind, redis_unavailable)
