"""A worker never loads views: importing the job modules (as `rq worker` and the
scheduler process do) must not import a Flask blueprint or a routes module."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import ROOT

# Runs in a fresh interpreter: this test process has the whole app loaded already.
PROBE = """
import json, sys
import flask
import jobs.backup, jobs.images, jobs.imports, jobs.rq_settings, jobs.search  # noqa
import jobs.worker, jobs.scheduler  # noqa
views = sorted(
    name for name, module in list(sys.modules.items())
    if module is not None and (
        name.endswith(".routes") or name in ("blog.health", "blog.dashboard", "rq_dashboard")
        or any(isinstance(v, flask.Blueprint) for v in list(vars(module).values()))
    )
)
print(json.dumps(views))
"""


def test_job_modules_import_no_views_or_blueprints():
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "TZ": "UTC"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == []
