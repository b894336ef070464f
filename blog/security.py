"""HTTP hardening for every response, and trusting the PaaS router's forwarded headers."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .dashboard import URL_PREFIX as DASHBOARD_URL_PREFIX

# Pages carry no inline script or style: every script lives in static/.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{media}; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# rq-dashboard (mounted at DASHBOARD_URL_PREFIX) ships inline scripts, styles and underscore.js
# templates (compiled with new Function) of its own; only its pages get this policy.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

# /sitemap.xml opened in a browser: Chromium shows XML through a built-in viewer whose
# inline styles and data: images (its fold arrows) the page CSP blocks, leaving garbled
# text. The document is our escaped XML and loads nothing else: allow just those two
# (no script; checked in tests/test_browser_ux.py).
SITEMAP_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


# On every response that does not set its own (as does an upload's, for instance).
HARDENING = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def from_other_origin() -> bool:
    """Whether a browser sent this request from another site's page: Go's
    CrossOriginProtection (and Rails') check, which needs no token and so no session.

    Browsers since 2020-2023 send `Sec-Fetch-Site` on every request: only `same-origin`
    and `none` (typed in, a bookmark) pass. Older ones send `Origin` on a POST: it must
    name this host. A request with neither comes from no browser (curl, a feed reader),
    so no visitor's browser can be made to send it (no ambient authority to abuse).
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site:
        return site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return urlsplit(origin).netloc != request.host


def _defaults(policy: str, secure: bool) -> list[tuple[str, str, str]]:
    """(lower-cased name, name, value) of the headers a response gets unless it set them."""
    wanted = [("Content-Security-Policy", policy), *HARDENING, *([HSTS] if secure else [])]
    return [(name.lower(), name, value) for name, value in wanted]


def init_app(app: Flask) -> None:
    if app.config.get("TRUSTED_PROXIES"):
        # Behind the router, X-Forwarded-For/Proto/Host say who the client really is:
        # the comment and login rate limits count the client, not the router.
        hops = app.config["TRUSTED_PROXIES"]
        # Flask's documented way to wrap its WSGI callable (mypy sees a method).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops
        )
    media = urlsplit(app.config.get("MEDIA_URL") or "")
    media_origin = f" {media.scheme}://{media.netloc}" if media.netloc else ""
    page_csp = CSP.format(media=media_origin)

    defaults = {
        (policy, secure): _defaults(policy, secure)
        for policy in (page_csp, DASHBOARD_CSP, SITEMAP_CSP)
        for secure in (False, True)
    }

    @app.after_request
    def add_headers(response: Response) -> Response:
        if request.path.startswith(DASHBOARD_URL_PREFIX):
            policy = DASHBOARD_CSP
        elif request.endpoint == "posts.sitemap":  # also when served from the page cache
            policy = SITEMAP_CSP
        else:
            policy = page_csp
        # What Headers.setdefault does for each, in one pass over the response's headers
        # (setdefault raises and catches an exception for every header that is missing).
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        for lower, name, value in defaults[policy, request.is_secure]:
            if lower not in present:
                headers.add(name, value)
        return response
