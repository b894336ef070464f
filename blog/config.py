"""Configuration read from the environment (a `.env` file is read in development).

Every setting has one source: an environment variable of the same name. Secrets never
have a working default outside development and tests.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit

from processing.images import DEFAULT_MAX_PIXELS
from processing.search.text import languages as search_languages

# Values that appear in tutorials and sample files: a production app must not run on them.
KNOWN_WEAK_SECRETS = frozenset(
    {
        "",
        "dev",
        "development",
        "secret",
        "changeme",
        "change-me",
        "please-change-me",
        "test",
        "default",
        "secret-key",
        "your-secret-key",
        "supersecret",
    }
)
MIN_SECRET_LENGTH = 16
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable app; the message says how to fix it."""


def _env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int, minimum: int, maximum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _search_language() -> str:
    """The stemmer's language (a Snowball algorithm name); English by default."""
    value = os.environ.get("SEARCH_LANGUAGE", "").strip().lower() or "english"
    if value not in search_languages():
        raise ConfigError(
            f"SEARCH_LANGUAGE must be one of {', '.join(search_languages())}; got {value!r}"
        )
    return value


def from_environment() -> dict:
    """Read the app's settings from os.environ into a dict for `app.config`."""
    return {
        "APP_ENV": os.environ.get("APP_ENV", "production").strip().lower(),
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "REDIS_URL": redis_url_from_environment(),
        "REDIS_TLS_INSECURE": _env_bool("REDIS_TLS_INSECURE"),
        # Redis Sentinel (docs/deploy.md): the sentinels name the primary; REDIS_URL then
        # gives only credentials, database and TLS.
        "REDIS_SENTINELS": parse_sentinels(os.environ.get("REDIS_SENTINELS", "")),
        "REDIS_SENTINEL_MASTER": os.environ.get("REDIS_SENTINEL_MASTER", "mymaster").strip(),
        "REDIS_SENTINEL_PASSWORD": os.environ.get("REDIS_SENTINEL_PASSWORD", ""),
        # Replicas that must hold a comment or an upload before the visitor is told it
        # is saved (Redis WAIT); 0 = answer once the primary has it.
        "REDIS_WAIT_REPLICAS": _env_int("REDIS_WAIT_REPLICAS", 0, 0, 10),
        "BLOG_TITLE": os.environ.get("BLOG_TITLE", "A Redis Blog"),
        "KEY_PREFIX": os.environ.get("KEY_PREFIX", "blog:"),
        "COMMENT_MODERATION": _env_bool("COMMENT_MODERATION"),
        # Proxies in front of the app whose X-Forwarded-* headers are trusted (1 on a PaaS
        # router); 0 when clients connect directly, so nobody can forge their address.
        "TRUSTED_PROXIES": _env_int("TRUSTED_PROXIES", 0, 0, 5),
        "POSTS_PER_PAGE": _env_int("POSTS_PER_PAGE", 10, 1, 100),
        "SEARCH_LANGUAGE": _search_language(),
        # Seconds a web process may reuse a rendered visitor's page (0: off). Writes
        # invalidate at once (contentwatch); this only bounds a page's age should that
        # signal ever be missed, like HTTP_STALE_SECONDS for a CDN.
        "PAGE_CACHE_SECONDS": _env_int("PAGE_CACHE_SECONDS", 60, 0, 3600),
        # Memory each web process may spend on those pages (least recently used go first).
        "PAGE_CACHE_MB": _env_int("PAGE_CACHE_MB", 32, 1, 4096),
        # Where the web processes of one server share the pages they render, so a page
        # is rendered once per server rather than once per process: "auto" (/dev/shm,
        # memory, where it exists), another directory on tmpfs, or "" (not shared).
        "PAGE_CACHE_DIR": os.environ.get("PAGE_CACHE_DIR", "auto").strip(),
        # Visitors' pages over HTTP (ETag, 304): how long a CDN may keep one (s-maxage;
        # 0: no validators, no shared caching) and serve it stale while it revalidates.
        "HTTP_CACHE_SECONDS": _env_int("HTTP_CACHE_SECONDS", 10, 0, 86400),
        "HTTP_STALE_SECONDS": _env_int("HTTP_STALE_SECONDS", 60, 0, 86400),
        "COMMENTS_PER_MINUTE": _env_int("COMMENTS_PER_MINUTE", 5, 1, 1000),
        "LOGIN_FAILURES_PER_ACCOUNT": _env_int("LOGIN_FAILURES_PER_ACCOUNT", 10, 1, 1000),
        "LOGIN_FAILURES_PER_IP": _env_int("LOGIN_FAILURES_PER_IP", 30, 1, 10000),
        # An author's login lasts this long at most, however active (docs/security.md).
        "AUTHOR_SESSION_HOURS": _env_int("AUTHOR_SESSION_HOURS", 12, 1, 24 * 30),
        # The blog's public address: absolute links (feeds, sitemap, mail) are built from
        # it, never from the request's Host header; mail jobs run outside any request and
        # need it too.
        "SITE_URL": site_url(os.environ.get("SITE_URL", "")),
        "TRUSTED_HOSTS": trusted_hosts(
            os.environ.get("TRUSTED_HOSTS", ""), os.environ.get("SITE_URL", "")
        ),
        # Lets a monitor see /healthz's details (Authorization: Bearer <token>).
        "HEALTHZ_TOKEN": os.environ.get("HEALTHZ_TOKEN", "").strip(),
        # Seconds a web request waits for Redis to connect or answer before a 503 page.
        "REDIS_TIMEOUT_SECONDS": _env_int("REDIS_TIMEOUT_SECONDS", 1, 1, 60),
        # Media: S3 when S3_BUCKET is set (AWS_* credentials), else a local directory.
        "MAX_UPLOAD_MB": _env_int("MAX_UPLOAD_MB", 20, 1, 200),
        # Pixels an image may have; bounds a cleaning job's memory (docs/images.md).
        "MAX_IMAGE_PIXELS": _env_int("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS, 1, 89_478_485),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", "var/media"),
        "S3_BUCKET": os.environ.get("S3_BUCKET", ""),
        "S3_PREFIX": os.environ.get("S3_PREFIX", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "MEDIA_URL": os.environ.get("MEDIA_URL", ""),
        # Images no post uses: deleted by a scheduled job (UTC cron) after this many hours.
        "IMAGE_CLEANUP_CRON": os.environ.get("IMAGE_CLEANUP_CRON", "30 * * * *").strip(),
        "UNUSED_IMAGE_HOURS": _env_int("UNUSED_IMAGE_HOURS", 24, 1, 24 * 365),
        # The editor's live preview, per author.
        "PREVIEWS_PER_MINUTE": _env_int("PREVIEWS_PER_MINUTE", 120, 1, 10000),
        # Backups (docs/backup.md): S3 when BACKUP_BUCKET or S3_BUCKET is set, else a
        # local directory. BACKUP_CRON is read in UTC by the scheduler process.
        "BACKUP_BUCKET": os.environ.get("BACKUP_BUCKET", ""),
        "BACKUP_PREFIX": os.environ.get("BACKUP_PREFIX", "backups").strip("/") or "backups",
        "BACKUP_ENDPOINT_URL": os.environ.get("BACKUP_ENDPOINT_URL", ""),
        "BACKUP_ROOT": os.environ.get("BACKUP_ROOT", "var/backups"),
        "BACKUP_KEEP_DAYS": _env_int("BACKUP_KEEP_DAYS", 30, 1, 36500),
        "BACKUP_KEEP_MIN": _env_int("BACKUP_KEEP_MIN", 7, 1, 10000),
        "BACKUP_CRON": os.environ.get("BACKUP_CRON", "0 3 * * *").strip(),
        "BACKUP_SSE_KMS_KEY_ID": os.environ.get("BACKUP_SSE_KMS_KEY_ID", "").strip(),
        "BACKUP_PART_MB": _env_int("BACKUP_PART_MB", 8, 5, 5120),
        "BACKUP_WARN_HOURS": _env_int("BACKUP_WARN_HOURS", 36, 1, 24 * 365),
        # Exported documents (docs/export.md) are deleted this many hours after they
        # were built, by the scheduled cleanup.
        "EXPORT_KEEP_HOURS": _env_int("EXPORT_KEEP_HOURS", 24, 1, 24 * 365),
        # Mail (docs/mail.md): the standard Flask mail settings. No MAIL_SERVER: no mail.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "").strip(),
        "MAIL_PORT": _env_int("MAIL_PORT", 25, 1, 65535),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS"),  # STARTTLS
        "MAIL_USE_SSL": _env_bool("MAIL_USE_SSL"),  # implicit TLS (port 465)
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER", "").strip(),
        # A provider's sending limit, shared by every worker (0: no limit).
        "MAIL_RATE_PER_SECOND": _env_int("MAIL_RATE_PER_SECOND", 10, 0, 100_000),
        # Subscribers per announcement job, all over one SMTP connection.
        "MAIL_BATCH_SIZE": _env_int("MAIL_BATCH_SIZE", 100, 1, 1000),
        # WordPress imports (docs/import.md): the largest export file accepted, the time
        # one image may take to download, and (tests only) fetching from private hosts.
        "MAX_IMPORT_MB": _env_int("MAX_IMPORT_MB", 200, 1, 2048),
        "IMPORT_IMAGE_TIMEOUT": _env_int("IMPORT_IMAGE_TIMEOUT", 20, 1, 300),
        "IMPORT_ALLOW_PRIVATE_HOSTS": _env_bool("IMPORT_ALLOW_PRIVATE_HOSTS"),
    }


MAX_SENTINELS = 16


def parse_sentinels(raw: str) -> list[tuple[str, int]]:
    """`host:port,host:port` (IPv6 as `[::1]:26379`) into (host, port) pairs."""
    sentinels = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(
                f"REDIS_SENTINELS must be a comma-separated list of host:port, got {item!r}"
            )
        sentinels.append((host, int(port)))
    if len(sentinels) > MAX_SENTINELS:
        raise ConfigError(
            f"REDIS_SENTINELS lists {len(sentinels)} sentinels; at most {MAX_SENTINELS}"
        )
    return sentinels


def redis_url_from_environment() -> str:
    """REDIS_URL (default: a local Redis), with REDIS_TLS_INSECURE applied."""
    return effective_redis_url(
        os.environ.get("REDIS_URL", DEFAULT_REDIS_URL), _env_bool("REDIS_TLS_INSECURE")
    )


def site_url(raw: str) -> str:
    """SITE_URL without its trailing slash; it must be an http(s) URL with a host."""
    url = raw.strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.query:
        raise ConfigError(f"SITE_URL must look like https://blog.example.org, got {raw!r}")
    return url


def trusted_hosts(raw: str, site: str) -> list[str] | None:
    """Host names the app answers to (Flask's TRUSTED_HOSTS): TRUSTED_HOSTS, comma-separated,
    or else SITE_URL's host; None (any host) when neither is set."""
    hosts = [h.strip().lower() for h in raw.split(",") if h.strip()]
    if not hosts and site.strip():
        hosts = [urlsplit(site_url(site)).hostname or ""]  # site_url() checked it has one
    return hosts or None


def effective_redis_url(url: str, tls_insecure: bool) -> str:
    """The Redis URL every process uses. PaaS Redis add-ons may serve rediss:// with a
    self-signed certificate; with REDIS_TLS_INSECURE the URL itself says not to verify
    it, so `rq worker`, rq-dashboard and the app all connect the same way."""
    if tls_insecure and url.startswith("rediss://") and "ssl_cert_reqs=" not in url:
        return url + ("&" if "?" in url else "?") + "ssl_cert_reqs=none"
    return url


def url_with_timeouts(url: str, connect: float, read: float | None = None) -> str:
    """`url` with socket timeouts in its query string, for clients that only take a URL
    (`rq worker`, rq-dashboard). No read timeout for a worker: RQ sets one longer than
    its own blocking wait for jobs."""
    options = f"socket_connect_timeout={connect}"
    if read is not None:
        options += f"&socket_timeout={read}"
    return url + ("&" if "?" in url else "?") + options


def check_secret_key(config: dict) -> None:
    """Refuse to run in production on a missing or well-known secret key.

    In development and testing a random per-process key is generated instead, so the
    app always starts there (sessions then end when the process restarts).
    """
    key = config.get("SECRET_KEY") or ""
    if config.get("APP_ENV") in {"development", "testing"} or config.get("TESTING"):
        if not key:
            config["SECRET_KEY"] = secrets.token_hex(32)
        return
    if key.strip().lower() in KNOWN_WEAK_SECRETS or len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(
            "SECRET_KEY is missing or a known default. Set it to a long random value, e.g. "
            "SECRET_KEY=$(python -c 'import secrets; print(secrets.token_hex(32))'), "
            "or set APP_ENV=development for local work."
        )
