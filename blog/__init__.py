"""A blog whose only datastore is Redis; slow work runs in RQ workers.

`create_app` builds the web app in steps, as cookiecutter-flask's factory does: settings,
the services every request uses (data layer, RQ, media storage), extensions, blueprints,
CLI commands, logging. Workers never call it (jobs/context.py builds what jobs need).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from types import FunctionType
from typing import Any

import flask_wtf
from flask import Flask, current_app, request

from . import config as config_module
from . import templating
from .data import REPLICA_WAIT_MS, DataLayer, SentinelSettings, connect
from .queues import enqueue_search_drain, rq_connection
from .sessions import SessionInterface
from .storage import storage_from_config


class CSRFProtect(flask_wtf.CSRFProtect):
    """flask_wtf's CSRFProtect, asking about the method first: it looks up whether the
    view is exempt before it looks at the method, and GETs (most requests) need neither."""

    def protect(self, apply_exemptions: bool = False) -> None:
        if request.method in current_app.config["WTF_CSRF_METHODS"]:
            super().protect(apply_exemptions)


csrf = CSRFProtect()


class Blog(Flask):
    """Flask, without a question it asks again for every hook and view of every request
    (eight times for a post page): is this function a coroutine function? The answer
    for a function never changes. Only plain functions are remembered: Flask also asks
    about bound methods made per request (class-based views), which would pile up.
    Templates use the blog's Jinja environment (blog/templating.py)."""

    jinja_environment = templating.BlogEnvironment

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync: dict[FunctionType, Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        sync = self._sync.get(func)
        if sync is None:
            sync = self._sync[func] = super().ensure_sync(func)
        return sync


def create_app(overrides: dict | None = None) -> Flask:
    """Application factory: settings come from the environment, then `overrides` (tests)."""
    app = Blog(__name__, static_folder="../static", template_folder="../templates")
    configure(app, overrides or {})
    register_services(app)
    register_extensions(app)
    register_blueprints(app)
    register_commands(app)
    if not app.testing:
        from . import logs

        logs.configure()
    return app


def configure(app: Flask, overrides: dict) -> None:
    app.config.from_mapping(config_module.from_environment())
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # A login lasts AUTHOR_SESSION_HOURS from its start however active (auth_at), so
        # re-sending the cookie on every response renewed nothing, and it lost flashes:
        # a favicon or autosave answer still in flight when "Save" redirected put back the
        # cookie from before the flash. The cookie is now sent only when the session changes.
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_FORM_MEMORY_SIZE=1024 * 1024,  # a 200,000-character body in UTF-8, with room
    )
    app.config.update(overrides)
    config_module.check_secret_key(app.config)
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=app.config["AUTHOR_SESSION_HOURS"])
    # Not setdefault(): Flask's defaults already hold both keys (False and None).
    if "SESSION_COOKIE_SECURE" not in overrides:
        app.config["SESSION_COOKIE_SECURE"] = app.config["APP_ENV"] == "production"
    # Werkzeug answers 413 past this; the multipart envelope needs a little room.
    if "MAX_CONTENT_LENGTH" not in overrides:
        app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_MB"] * 1024 * 1024 + 65536


def register_services(app: Flask) -> None:
    """The data layer, RQ's client and media storage, shared by every request. Every post
    write marks the post for the search index; the first after a drain enqueues the
    drain job (docs/search.md)."""
    url = app.config["REDIS_URL"]  # REDIS_TLS_INSECURE is applied already (config.py)
    sentinel = SentinelSettings.from_config(app.config)
    # Plain Redis: a hung one answers 503 within this, not a hung request (with Sentinel,
    # the failover retries of blog/data/connection.py decide). WAIT for replicas may take
    # REPLICA_WAIT_MS by design: the read timeout leaves it that long, plus a second.
    timeout = float(app.config["REDIS_TIMEOUT_SECONDS"])
    if app.config["REDIS_WAIT_REPLICAS"]:
        timeout = max(timeout, REPLICA_WAIT_MS / 1000 + 1)
    data = DataLayer(
        connect(url, sentinel, timeout=timeout),
        app.config["KEY_PREFIX"],
        app.config["SEARCH_LANGUAGE"],
        wait_replicas=app.config["REDIS_WAIT_REPLICAS"],
    )
    app.extensions["blog_data"] = data
    app.extensions["rq_connection"] = rq_connection(url, sentinel, timeout=timeout)
    data.posts.search_due.append(
        partial(enqueue_search_drain, connection=app.extensions["rq_connection"])
    )
    app.extensions["media_storage"] = storage_from_config(app.config)


def register_extensions(app: Flask) -> None:
    """Sessions, request hooks: CSRF, security headers, the page cache, templates, error
    pages."""
    from . import errors, pagecache, security, templating

    app.session_interface = SessionInterface()
    csrf.init_app(app)
    pagecache.init_app(app)  # before security: its ProxyFix must wrap the cache's middleware
    security.init_app(app)
    templating.init_app(app)
    errors.init_app(app)


def register_blueprints(app: Flask) -> None:
    from . import (
        auth,
        backups,
        comments,
        dashboard,
        documents,
        exports,
        health,
        imports,
        newsletter,
        posts,
        search,
        uploads,
    )

    app.register_blueprint(auth.bp)
    app.register_blueprint(posts.bp)
    app.register_blueprint(comments.bp)
    app.register_blueprint(uploads.bp)
    app.register_blueprint(health.bp)
    backups.init_app(app)
    search.init_app(app)
    exports.init_app(app)
    imports.init_app(app)
    documents.init_app(app)
    auth.init_app(app)
    dashboard.init_app(app, csrf)
    newsletter.init_app(app, csrf)


def register_commands(app: Flask) -> None:
    """`flask release` here; `flask backup ...`, `flask export ...` and `flask create-user`
    come with their blueprints."""
    from . import release

    app.cli.add_command(release.release_command)
