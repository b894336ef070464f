"""Visitor comments: posting (rate limited, honeypot), deleting and moderation."""

from flask import Blueprint

bp = Blueprint("comments", __name__)

from . import routes  # noqa: F401  (routes attach to bp)
