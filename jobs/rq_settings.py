"""Settings for `rq worker -c jobs.rq_settings` and `rqscheduler`: the Redis URL the app
uses, read by the same code (blog/config.py), REDIS_TLS_INSECURE included."""

from blog.config import redis_url_from_environment

REDIS_URL = redis_url_from_environment()
