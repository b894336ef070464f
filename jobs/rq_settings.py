"""Settings for `rq worker -c jobs.rq_settings` and `rqscheduler`: the same Redis URL the
app uses, including the REDIS_TLS_INSECURE switch for self-signed rediss:// add-ons."""

import os

from blog.config import effective_redis_url, url_with_timeouts

# A worker gives up connecting to an unreachable Redis after 5 s and retries; RQ itself
# sets the read timeout (longer than its blocking wait for jobs).
REDIS_URL = url_with_timeouts(
    effective_redis_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        os.environ.get("REDIS_TLS_INSECURE", "").strip().lower() in {"1", "true", "yes", "on"},
    ),
    connect=5,
)
