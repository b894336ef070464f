"""Export: the /export page, the `flask export ...` command and the document jobs.

The work itself is in `service.py` (shared with jobs/export.py), the writers in
processing/export; see docs/export.md.
"""

from flask import Blueprint, Flask

bp = Blueprint("exports", __name__)


def init_app(app: Flask) -> None:
    from .cli import export_command

    app.register_blueprint(bp)
    app.cli.add_command(export_command)


from . import routes  # noqa: F401  (routes attach to bp)
