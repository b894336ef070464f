"""Settings for `rq worker -c jobs.rq_settings` and `rqscheduler`: the same Redis URL the
app uses, including the REDIS_TLS_INSECURE switch for self-signed rediss:// add-ons."""

import os

from blog.config import effective_redis_url

REDIS_URL = effective_redis_url(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    os.environ.get("REDIS_TLS_INSECURE", "").strip().lower() in {"1", "true", "yes", "on"},
)
