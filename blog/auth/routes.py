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

from processing.mail import Tokens

from ..data import User, get_data
from ..data.ratelimit import LOGIN_ADDRESS
from ..newsletter.announce import mail_enabled, request_password_reset
from . import bp, login_required, start_session
from .forms import EmailForm, ForgotForm, LoginForm, NewPasswordForm, PasswordChangeForm

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
            data.limits.login_succeeded(user.username, counted)
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


# ---- the author's profile: email address and password ----------------------------------


def _profile_page(
    email_form: EmailForm, password_form: PasswordChangeForm, status: int = 200
) -> ResponseReturnValue:
    return render_template(
        "auth/profile.html", email_form=email_form, password_form=password_form
    ), status


def current_author() -> User:
    user = get_data().users.get(g.user["id"])
    if user is None:
        abort(404)  # deleted since the session began
    return user


@bp.route("/profile")
@login_required
def profile() -> ResponseReturnValue:
    email_form = EmailForm()
    email_form.email.data = current_author().email
    return _profile_page(email_form, PasswordChangeForm())


@bp.route("/profile/email", methods=["POST"])
@login_required
def profile_email() -> ResponseReturnValue:
    form = EmailForm()
    if not form.validate_on_submit():
        return _profile_page(form, PasswordChangeForm(formdata=None), 400)
    get_data().users.set_email(g.user["id"], form.email.data)
    flash("Your email address is saved.")
    return redirect(url_for("auth.profile"))


@bp.route("/profile/password", methods=["POST"])
@login_required
def profile_password() -> ResponseReturnValue:
    form = PasswordChangeForm()
    users = get_data().users
    if form.validate_on_submit():
        if users.authenticate(g.user["username"], form.current_password.data):
            users.set_password(g.user["id"], form.new_password.data)
            users.revoke_sessions(g.user["id"])  # every session, this one included...
            start_session(current_author())  # ...which starts afresh
            flash("Your password is changed. Your other sessions are logged out.")
            return redirect(url_for("auth.profile"))
        form.current_password.errors.append("That is not your current password.")
    email_form = EmailForm(formdata=None)
    email_form.email.data = current_author().email
    return _profile_page(email_form, form, 400)


# ---- forgotten passwords ------------------------------------------------------------------

RESET_WINDOW_SECONDS = 3600
RESETS_PER_IP = 10  # requests per hour from one client address (429 past it)
RESETS_PER_ACCOUNT = 3  # mails per hour to one account (silently none past it)


@bp.route("/login/forgot", methods=["GET", "POST"])
def forgot() -> ResponseReturnValue:
    form = ForgotForm()
    if not form.validate_on_submit():
        status = 400 if form.errors and request.method == "POST" else 200
        return render_template("auth/forgot.html", form=form), status
    data = get_data()
    ip = request.remote_addr or "unknown"
    if not data.limits.hit("reset-ip", ip, RESETS_PER_IP, RESET_WINDOW_SECONDS):
        abort(429, "Too many password reset requests. Please wait an hour and try again.")
    login = form.login.data.strip().lower()
    user = data.users.by_login(login)
    if (
        user is not None
        and user.email
        and mail_enabled()
        and data.limits.hit("reset-account", str(user.id), RESETS_PER_ACCOUNT, RESET_WINDOW_SECONDS)
    ):
        request_password_reset(user.id)
    # The same answer whether or not the account exists or has an address.
    return render_template("auth/forgot_sent.html")


def _reset_user(token: str) -> int:
    users = get_data().users

    def current_hash(user_id: int) -> str | None:
        user = users.get(user_id)
        return user.password_hash if user else None

    user_id = Tokens(current_app.config["SECRET_KEY"]).reset_user(token, current_hash)
    if user_id is None:
        abort(400, "This link has expired or was already used. Ask for a new one.")
    return user_id


@bp.route("/login/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> ResponseReturnValue:
    user_id = _reset_user(token)
    form = NewPasswordForm()
    if form.validate_on_submit():
        get_data().users.set_password(user_id, form.new_password.data)
        get_data().users.revoke_sessions(user_id)
        session.clear()
        flash("Your new password is set. Log in with it.")
        return redirect(url_for("auth.login"))
    status = 400 if form.errors and request.method == "POST" else 200
    return render_template("auth/reset.html", form=form), status
