"""Posts: reading (home, post, tags, feeds, sitemap) and writing (new, edit, delete)."""

from flask import Blueprint

bp = Blueprint("posts", __name__)

from . import cli, editor, feeds, routes  # noqa: F401  (routes and commands attach to bp)
