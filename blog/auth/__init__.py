"""Authors: login, logout, the `create-user` command and the `login_required` guard."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from flask import Blueprint, Flask, abort, current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ..data import User, get_data

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    from .cli import create_user

    app.cli.add_command(create_user)
    app.before_request(load_logged_in_user)


def session_lifetime_seconds() -> int:
    return int(current_app.permanent_session_lifetime.total_seconds())


def start_session(user: User) -> None:
    """Log `user` in: a fresh session id, recorded in Redis, in a fresh signed cookie."""
    session.clear()
    session.permanent = True  # the cookie expires after AUTHOR_SESSION_HOURS
    session["user_id"] = user.id
    session["username"] = user.username
    session["sid"] = get_data().users.open_session(user.id, session_lifetime_seconds())
    session["auth_at"] = int(time.time())


def load_logged_in_user() -> None:
    """Visitors' requests read nothing from Redis. An author's signed cookie is honoured
    only while its session id is alive in Redis (one read): logging out, "Log out
    everywhere" and a password change end it on every copy of the cookie."""
    g.user = None
    user_id = session.get("user_id")
    if not user_id:
        return
    fresh = time.time() - session.get("auth_at", 0) < session_lifetime_seconds()
    if not fresh or not get_data().users.session_alive(user_id, session.get("sid", "")):
        session.clear()
        return
    g.user = {"id": user_id, "username": session.get("username")}


def login_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapped(*args: object, **kwargs: object) -> ResponseReturnValue:
        if g.user is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped


def require_owner(author_id: int) -> None:
    if g.user is None or g.user["id"] != author_id:
        abort(403)


from . import routes  # noqa: F401  (routes attach to bp)
