"""Export: the blog as a Markdown site bundle or an EPUB book (docs/export.md).

* `service.py`: build a document from the data layer, name it, clean up old ones
  (shared by the job, the CLI and the page);
* `schedule.py`: the hourly cleanup as an rq-scheduler cron job;
* `routes.py` (the /export page) and `cli.py` (`flask export ...`): the web app's faces,
  registered by :func:`init_app` only.

The writers live in processing/export, the job functions in jobs/export.py. Importing
this package loads no view: a worker imports `service` and `schedule` alone.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .cli import export_command
    from .routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(export_command)
