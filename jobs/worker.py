"""The worker class that the Procfile's `rq worker` runs.

It imports the job modules up front, so each forked work horse starts with Flask,
Pillow and boto3 already loaded (a cold import costs more than cleaning a photo).
HerokuWorker handles the SIGTERM a PaaS sends on restart: the running job is warned and
then stopped so it goes back on its queue, and nothing is lost.
"""

from rq.worker import HerokuWorker

import jobs.images  # noqa: F401  (preloaded for the work horses)


class BlogWorker(HerokuWorker):
    pass
