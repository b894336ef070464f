from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ..data import get_data
from . import bp, login_required
from .forms import LoginForm


def _safe_next(target: str | None) -> str:
    """Only same-site paths: `next=https://evil.example` must not become an open redirect."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
        ):
            return target
    return url_for("posts.dashboard")


LOGIN_WINDOW_SECONDS = 15 * 60


def login_limits(username: str) -> list[tuple[str, str, int]]:
    """Failed logins allowed per window: per account (guessing one password) and per
    client address (trying many accounts)."""
    config = current_app.config
    return [
        ("login-account", username.lower(), config["LOGIN_FAILURES_PER_ACCOUNT"]),
        ("login-ip", request.remote_addr or "unknown", config["LOGIN_FAILURES_PER_IP"]),
    ]


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        data = get_data()
        limits = login_limits(form.username.data)
        if data.limits.exhausted(limits, LOGIN_WINDOW_SECONDS):
            abort(429, "Too many failed logins. Please wait 15 minutes and try again.")
        user = data.users.authenticate(form.username.data, form.password.data)
        if not user:
            data.limits.hit_all(limits, LOGIN_WINDOW_SECONDS)
        if user:
            session.clear()
            session["user_id"] = user.id
            session["username"] = user.username
            flash(f"Welcome back, {user.username}.")
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("Wrong username or password.")
    status = 401 if form.errors and request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("posts.index"))
