"""Flask's signed-cookie session, without the setup it repeats on every request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

if TYPE_CHECKING:
    from flask import Flask, Request, Response


class SessionInterface(SecureCookieSessionInterface):
    """Flask builds a new itsdangerous serializer for every request (which serialises
    `{}` to learn whether it deals in text), even for a visitor who carries no cookie and
    gets none: about 15 µs of every page. One per app keeps it, rebuilt when the keys
    change. The serializer holds only its settings, so threads may share it."""

    def __init__(self) -> None:
        self._serializer: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._serializer
        if cached is None or cached[0] != keys:
            cached = self._serializer = (keys, super().get_signing_serializer(app))
        return cached[1]

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # A visitor carries no session cookie, and Flask's lookup of a missing cookie
        # (MultiDict.get) raises and catches an HTTPException: same outcome, without it.
        if self.get_cookie_name(app) in request.cookies:
            return super().open_session(app, request)
        return None if self.get_signing_serializer(app) is None else self.session_class()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Flask's own outcome for a session that is empty and unchanged (every visitor's),
        # without first working out the seven cookie settings it would not use.
        if not session and not session.modified:
            if session.accessed:
                vary_on_cookie(response)
            return
        super().save_session(app, session, response)


def vary_on_cookie(response: Response) -> None:
    """`response.vary.add("Cookie")`, which parses and rewrites the header: when there is
    no Vary yet (the usual case), the same header for a quarter of the cost."""
    if any(name.lower() == "vary" for name, _ in response.headers):
        response.vary.add("Cookie")
    else:
        response.headers.add("Vary", "Cookie")
