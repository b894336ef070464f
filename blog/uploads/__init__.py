"""Image uploads: accept, hand to a worker for metadata removal, serve once clean."""

from flask import Blueprint

bp = Blueprint("uploads", __name__)

from . import routes  # noqa: F401  (routes attach to bp)
