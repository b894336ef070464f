"""A blog whose only datastore is Redis; slow work runs in RQ workers."""

from __future__ import annotations

from flask import Flask
from flask_wtf import CSRFProtect

from . import config as config_module
from .data import DataLayer, connect
from .queues import rq_connection
from .storage import storage_from_config

csrf = CSRFProtect()


def create_app(overrides: dict | None = None) -> Flask:
    """Application factory: settings come from the environment, then `overrides` (tests)."""
    app = Flask(__name__, static_folder="../static", template_folder="../templates")
    app.config.from_mapping(config_module.from_environment())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_FORM_MEMORY_SIZE=1024 * 1024,  # a 200,000-character body in UTF-8, with room
    )
    if overrides:
        app.config.update(overrides)
    config_module.check_secret_key(app.config)
    # Not setdefault(): Flask's defaults already hold both keys (False and None).
    if "SESSION_COOKIE_SECURE" not in (overrides or {}):
        app.config["SESSION_COOKIE_SECURE"] = app.config["APP_ENV"] == "production"

    # Werkzeug answers 413 past this; the multipart envelope needs a little room.
    if "MAX_CONTENT_LENGTH" not in (overrides or {}):
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024 + 65536

    url = app.config["REDIS_URL"]  # already carries REDIS_TLS_INSECURE, see config.py
    app.extensions["blog_data"] = DataLayer(connect(url), app.config["KEY_PREFIX"])
    app.extensions["rq_connection"] = rq_connection(url)
    app.extensions["media_storage"] = storage_from_config(app.config)
    csrf.init_app(app)

    from . import (
        auth,
        backups,
        comments,
        dashboard,
        errors,
        health,
        logs,
        pagecache,
        posts,
        release,
        security,
        templating,
        uploads,
    )

    pagecache.init_app(app)  # before security: its ProxyFix must wrap the cache's middleware
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(posts.bp)
    app.register_blueprint(comments.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(health.bp)
    backups.init_app(app)
    auth.init_app(app)
    dashboard.init_app(app, csrf)
    app.cli.add_command(release.release_command)
    if not app.testing:
        logs.configure()
    return app
