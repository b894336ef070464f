"""Template filters and globals shared by every page."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from .data.models import to_datetime
from .rendering import render_comment


def format_date(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else ""


def init_app(app: Flask) -> None:
    app.add_template_filter(format_date, "date")
    app.add_template_filter(render_comment, "comment")
    app.jinja_env.globals["to_datetime"] = to_datetime
    app.jinja_env.globals["blog_title"] = lambda: app.config["BLOG_TITLE"]
