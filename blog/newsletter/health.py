"""The mail part of /healthz: the last SMTP configuration error, if a job met one."""

from __future__ import annotations

from flask import current_app

from ..data import get_data
from ..health import check


@check
def mail_check() -> tuple[str, dict]:
    """A mail job that could not log in (or whose sender was refused, or found no
    SITE_URL) left its message: a warning until a later job connects fine."""
    if not current_app.config.get("MAIL_SERVER"):
        return "ok", {"mail": "off"}
    try:
        error = get_data().mail.last_error()
    except Exception:  # Redis down: redis_check reports it
        return "ok", {"mail": "unknown"}
    if error:
        return "warning", {"mail": "error", "mail_error": error.get("message", "")}
    return "ok", {"mail": "ok"}
