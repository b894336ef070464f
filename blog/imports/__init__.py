"""WordPress import: an export file (WXR) in, posts, tags, comments and images out
(docs/import.md).

* `service.py`: the import itself (shared by the job and the CLI);
* `fetch.py`: fetching images without reaching the private network;
* `routes.py` (the /import page) and `cli.py` (`flask import wordpress ...`): the web
  app's faces, registered by :func:`init_app` only.

The reader and converter live in processing/wordpress, the job in jobs/imports.py; the
job, its progress and its status endpoint are blog/documents'.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .cli import import_group
    from .routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(import_group)
