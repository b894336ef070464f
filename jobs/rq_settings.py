"""Settings for `rq worker -c jobs.rq_settings` and `rqscheduler`: the Redis URL the app
uses, read by the same code (blog/config.py), REDIS_TLS_INSECURE included."""

from blog.config import redis_url_from_environment, url_with_timeouts

# A worker gives up connecting to an unreachable Redis after 5 s and retries; RQ itself
# sets the read timeout (longer than its blocking wait for jobs).
REDIS_URL = url_with_timeouts(redis_url_from_environment(), connect=5)
