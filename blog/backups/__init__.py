"""Backups: the /admin/backups page and the `flask backup ...` commands.

The work itself is in `service.py` (shared with jobs/backup.py), the nightly schedule in
`schedule.py`; see docs/backup.md.
"""

from flask import Blueprint, Flask

bp = Blueprint("backups", __name__)


def init_app(app: Flask) -> None:
    from .cli import backup_cli

    app.register_blueprint(bp)
    app.cli.add_command(backup_cli)


from . import routes  # noqa: F401  (routes attach to bp)
