"""Readers' mail: subscribe (double opt-in), confirm, unsubscribe (RFC 8058 one-click),
the authors' subscriber list, and the hooks that plan post announcements and comment
notices. The sending itself happens in RQ jobs (jobs/mail.py); docs/mail.md."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_wtf import CSRFProtect

bp = Blueprint("newsletter", __name__)


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    from . import health, routes  # noqa: F401  (health registers its /healthz check)
    from .announce import mail_enabled

    app.register_blueprint(bp)
    # Reader forms carry no CSRF token: the footer form sits on cached pages that must
    # not start a session, and mail clients POST one-click unsubscribes without cookies.
    # Subscribing only sends a confirmation mail; confirm and unsubscribe need a token.
    for view in (routes.subscribe, routes.confirm, routes.unsubscribe):
        csrf.exempt(view)
    app.jinja_env.globals["mail_enabled"] = mail_enabled
