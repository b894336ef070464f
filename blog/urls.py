"""Absolute URLs (feeds, sitemap, mail): built from SITE_URL when it is set, so a forged
Host or X-Forwarded-Host header can never put another site's address into a page."""

from __future__ import annotations

from typing import Any

from flask import current_app, url_for


def external_url(endpoint: str, **values: Any) -> str:
    """`url_for(endpoint, **values)` as an absolute URL on the configured SITE_URL (the
    request's host only when SITE_URL is not set, e.g. in development)."""
    site = current_app.config.get("SITE_URL")
    if not site:
        return url_for(endpoint, _external=True, **values)
    return site + url_for(endpoint, **values)
