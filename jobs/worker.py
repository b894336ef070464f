"""The worker class that the Procfile's `rq worker` runs.

It imports the job modules up front, so each forked work horse starts with Flask,
Pillow and boto3 already loaded (a cold import costs more than cleaning a photo).
HerokuWorker handles the SIGTERM a PaaS sends on restart: the running job is warned and
then stopped so it goes back on its queue, and nothing is lost.
"""

import os

from rq.worker import HerokuWorker

from blog import logs
from jobs import export, images, imports, mail, search  # noqa: F401  (preloaded for the work horses)

logs.configure()


class BlogWorker(HerokuWorker):
    # Seconds a running job may go on after SIGTERM before it is interrupted and put back.
    # Keep it below the platform's own grace period (Heroku: 30 s).
    imminent_shutdown_delay = int(os.environ.get("WORKER_SHUTDOWN_GRACE", "6"))
