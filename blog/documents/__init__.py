"""Long jobs an author starts and watches, on the `documents` queue (exports now, the
WordPress import next): the reusable pieces (docs/export.md, "reusable pieces").

* `queue.py`: `enqueue_document(...)`, a job with a Retry whose job.meta carries its
  owner and progress (`step`, `done`, `total`, written by jobs/progress.py);
* `status.py`: a job's state, progress and error as the page and the JSON show them,
  whether one still runs, and cancelling (RQ's stop command, or taking it off the queue);
* `routes.py`: `GET /jobs/<job id>/status`, JSON for the job's owner only, polled by
  static/progress.js under the `job_progress` macro (templates/_progress.html).

Importing this package loads no view: `routes.py` is registered by :func:`init_app`.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .routes import bp

    app.register_blueprint(bp)
