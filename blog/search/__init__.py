"""Search: the /search page, /search/suggest and `flask search reindex`.

The index and its queries are in blog/data/search.py, the text analysis and ranking in
processing/search/; see docs/search.md.
"""

from flask import Blueprint, Flask

bp = Blueprint("search", __name__)


def init_app(app: Flask) -> None:
    from .cli import search_cli

    app.register_blueprint(bp)
    app.cli.add_command(search_cli)


from . import routes  # noqa: F401  (routes attach to bp)
