"""Settings for `rq worker -c jobs.rq_settings`: the Redis the app uses, from the same
environment. With REDIS_SENTINELS rq builds a Sentinel client from `SENTINEL` (rq reads
REDIS_URL first, so it is left undefined then); otherwise `REDIS_URL`, including the
REDIS_TLS_INSECURE switch for self-signed rediss:// add-ons."""

from blog.config import from_environment, url_with_timeouts
from blog.data.connection import SentinelSettings, rq_sentinel_settings

_config = from_environment()
_sentinel = SentinelSettings.from_config(_config)
if _sentinel is None:
    # A worker gives up connecting to an unreachable Redis after 5 s and retries; RQ
    # itself sets the read timeout (longer than its blocking wait for jobs).
    REDIS_URL = url_with_timeouts(_config["REDIS_URL"], connect=5)
else:
    SENTINEL = rq_sentinel_settings(_config["REDIS_URL"], _sentinel)
