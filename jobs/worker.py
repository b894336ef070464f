"""The worker class that the Procfile's `rq worker` runs.

It imports the job modules up front, so each forked work horse starts with Flask,
Pillow and boto3 already loaded (a cold import costs more than cleaning a photo).
HerokuWorker handles the SIGTERM a PaaS sends on restart: the running job is warned and
then stopped so it goes back on its queue, and nothing is lost.
"""

import os
from typing import Any

from rq.worker import HerokuWorker

from blog import logs
from jobs import export, images, imports, mail, search  # noqa: F401  (preloaded for the work horses)

logs.configure()


# A job whose worker was killed (SIGKILL, lost machine) stays "started" until its
# heartbeat expires (JOB_MONITORING_INTERVAL + 60 s), and only a live worker's maintenance
# pass moves it back; RQ runs that pass every 600 s and an idle worker waits up to
# WORKER_TTL - 15 s for a job between passes. With these, a killed worker's job runs
# again within about two minutes (75 s + 30 s, plus its retry delay): docs/security.md.
JOB_MONITORING_INTERVAL = 15
WORKER_TTL = 45
MAINTENANCE_INTERVAL = 15


class BlogWorker(HerokuWorker):
    # Seconds a running job may go on after SIGTERM before it is interrupted and put back.
    # Keep it below the platform's own grace period (Heroku: 30 s).
    imminent_shutdown_delay = int(os.environ.get("WORKER_SHUTDOWN_GRACE", "6"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # `rq worker` passes RQ's defaults explicitly, so cap them rather than default them.
        for name, cap in (
            ("job_monitoring_interval", JOB_MONITORING_INTERVAL),
            ("worker_ttl", WORKER_TTL),
            ("maintenance_interval", MAINTENANCE_INTERVAL),
        ):
            kwargs[name] = min(kwargs.get(name) or cap, cap)
        kwargs.pop("default_worker_ttl", None)  # deprecated alias of worker_ttl
        super().__init__(*args, **kwargs)
