"""Backups: everything the feature needs, in one package (docs/backup.md).

* `service.py`: back up, verify, restore, retention (shared by the job, the CLI, the page);
* `targets.py`: where archives go (S3 or a local directory);
* `enqueue.py`: backup runs on the `backups` queue, and what is waiting there;
* `schedule.py`: the nightly run as an rq-scheduler cron job (UTC);
* `health.py`: the `/healthz` check of the last good backup's age;
* `routes.py` (the /admin/backups page) and `cli.py` (`flask backup ...`): the web
  app's faces, registered by :func:`init_app` only.

The data side lives in the data layer (`blog/data/records.py`, `backup_runs.py`), the
archive format in `processing/archive/`, the job functions in `jobs/backup.py`.
Importing this package loads no view: a worker imports `service` and `targets` alone.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import health  # noqa: F401  (registers its /healthz check)
    from .cli import backup_cli
    from .routes import bp

    app.register_blueprint(bp)
    app.cli.add_command(backup_cli)
