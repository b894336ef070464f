"""Atom feeds (site-wide and per tag) and the sitemap."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Response, abort, make_response, render_template

from ..data import get_data
from ..pagecache import cached_for_visitors
from . import bp

FEED_SIZE = 20


def xml_response(template: str, **context: object) -> Response:
    response = make_response(render_template(template, **context))
    response.mimetype = "application/atom+xml" if template.endswith(".atom") else "application/xml"
    return response


def _feed(tag: str | None) -> Response:
    posts = get_data().posts.newest(FEED_SIZE, tag=tag)
    if tag and not posts:
        abort(404)
    updated = max((p.updated_at for p in posts), default=time.time())
    return xml_response(
        "feed.atom", posts=posts, tag=tag, updated=datetime.fromtimestamp(updated, UTC)
    )


@bp.route("/feed.atom")
@cached_for_visitors
def feed() -> Response:
    return _feed(None)


@bp.route("/tags/<tag>/feed.atom")
@cached_for_visitors
def tag_feed(tag: str) -> Response:
    return _feed(tag)


@bp.route("/sitemap.xml")
@cached_for_visitors
def sitemap() -> Response:
    entries = [
        (slug, datetime.fromtimestamp(updated, UTC))
        for slug, updated in get_data().posts.all_visible()
    ]
    return xml_response("sitemap.xml", entries=entries)
