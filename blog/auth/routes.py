from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response as BaseResponse

from ..data import get_data
from ..data.ratelimit import LOGIN_ADDRESS
from . import bp, login_required, start_session
from .forms import LoginForm

# Control characters (CR, LF, tab...) and "\" change what a browser makes of a URL, and
# CR/LF cannot go into a Location header at all: such a `next` is refused outright.
_UNSAFE_NEXT_CHARS = frozenset(map(chr, [*range(0x20), 0x7F])) | {"\\"}


def _safe_next(target: str | None) -> str:
    """Only same-site paths: `next=https://evil.example` must not become an open redirect."""
    if target and not _UNSAFE_NEXT_CHARS.intersection(target):
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
LOGIN_MAX_DELAY_SECONDS = 60
# A browser that has logged in to an account gets a signed "known device" cookie for it;
# its attempts are counted per device, so a stranger's guesses never slow its owner down.
DEVICE_COOKIE = "login_device"
DEVICE_COOKIE_DAYS = 180


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="login-device")


def _known_device(username: str) -> str | None:
    """The device id from this browser's cookie, if it has logged in as `username`."""
    try:
        value = _device_serializer().loads(request.cookies.get(DEVICE_COOKIE, ""))
    except BadSignature:
        return None
    return value.get("d") if value.get("u") == username else None


def _refuse_login(limited: str, wait_seconds: int) -> None:
    if limited == "account":
        abort(
            429,
            "Too many failed logins for this account from browsers it does not know. "
            f"Please wait {wait_seconds} seconds and try again.",
        )
    abort(429, "Too many failed logins. Please wait 15 minutes and try again.")


def _count_attempt(username: str) -> tuple[str, str]:
    """Count this attempt before its password is checked (docs/security.md); the
    (action, client) it was counted as."""
    config, limits = current_app.config, get_data().limits
    device = _known_device(username)
    if device is not None:
        if not limits.hit(
            "login-device", device, config["LOGIN_FAILURES_PER_ACCOUNT"], LOGIN_WINDOW_SECONDS
        ):
            _refuse_login("address", 0)
        return "login-device", device
    address = request.remote_addr or "unknown"
    verdict = limits.login_attempt(
        username,
        address,
        address_limit=config["LOGIN_FAILURES_PER_IP"],
        account_free=config["LOGIN_FAILURES_PER_ACCOUNT"],
        window_seconds=LOGIN_WINDOW_SECONDS,
        max_delay=LOGIN_MAX_DELAY_SECONDS,
    )
    if not verdict.allowed:
        _refuse_login(verdict.limited, verdict.wait_seconds)
    return LOGIN_ADDRESS, address


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        username = form.username.data.strip().lower()
        counted = _count_attempt(username)
        data = get_data()
        user = data.users.authenticate(username, form.password.data)
        if user:
            data.limits.login_succeeded(user.username, counted, LOGIN_WINDOW_SECONDS)
            start_session(user)
            flash(f"Welcome back, {user.username}.")
            response = redirect(_safe_next(request.args.get("next")))
            _remember_device(response, user.username)
            return response
        form.password.errors.append("Wrong username or password.")
    status = 401 if form.errors and request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


def _remember_device(response: BaseResponse, username: str) -> None:
    device = _known_device(username) or secrets.token_urlsafe(16)
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps({"u": username, "d": device}),
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        path=url_for("auth.login"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> ResponseReturnValue:
    get_data().users.close_session(g.user["id"], session.get("sid", ""))
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("posts.index"))


@bp.route("/logout/everywhere", methods=["POST"])
@login_required
def logout_everywhere() -> ResponseReturnValue:
    """Ends every session of this author, in every browser (CSRFProtect checks the token)."""
    get_data().users.revoke_sessions(g.user["id"])
    session.clear()
    flash("You are logged out everywhere: every browser has to log in again.")
    return redirect(url_for("posts.index"))
