"""Authors: login, logout, the `create-user` command and the `login_required` guard."""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Blueprint, Flask, abort, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue

from ..data import User, get_data

bp = Blueprint("auth", __name__)


def init_app(app: Flask) -> None:
    from .cli import create_user

    app.cli.add_command(create_user)
    app.before_request(load_logged_in_user)


def load_logged_in_user() -> None:
    """The session cookie is signed; it carries id, name and the author's session epoch.
    One Redis read per author request (visitors cost none): a password change or reset
    bumps the epoch, which logs out every other session of that author."""
    user_id = session.get("user_id")
    g.user = None
    if not user_id:
        return
    if get_data().users.session_epoch(user_id) != session.get("epoch", 0):
        session.clear()
        return
    g.user = {"id": user_id, "username": session.get("username")}


def start_session(user: User) -> None:
    """Log `user` in with a fresh signed cookie, at the author's current session epoch."""
    session.clear()
    session["user_id"] = user.id
    session["username"] = user.username
    session["epoch"] = user.session_epoch


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
