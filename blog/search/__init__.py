"""Search: everything the feature needs, in one package (docs/search.md).

* `service.py`: index one post, rebuild the index, run a query (shared by the job, the
  CLI, the restore and the views);
* `routes.py` (/search, /search/suggest) and `cli.py` (`flask search reindex`): the web
  app's faces, registered by :func:`init_app` only.

The index's keys live in the data layer (`blog/data/search.py`), the text analysis and
ranking in `processing/search/`, the job in `jobs/search.py`. Importing this package
loads no view: a worker imports `service` alone.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .cli import search_cli
    from .routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(search_cli)
