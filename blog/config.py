"""Configuration read from the environment (a `.env` file is read in development).

Every setting has one source: an environment variable of the same name. Secrets never
have a working default outside development and tests.
"""

from __future__ import annotations

import os
import secrets

# Values that appear in tutorials and sample files: a production app must not run on them.
KNOWN_WEAK_SECRETS = frozenset(
    {"", "dev", "development", "secret", "changeme", "change-me", "please-change-me",
     "test", "default", "secret-key", "your-secret-key", "supersecret"}
)
MIN_SECRET_LENGTH = 16


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


def from_environment() -> dict:
    """Read the app's settings from os.environ into a dict for `app.config`."""
    return {
        "APP_ENV": os.environ.get("APP_ENV", "production").strip().lower(),
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # Managed Redis on some PaaS offers rediss:// with a self-signed certificate.
        "REDIS_TLS_INSECURE": _env_bool("REDIS_TLS_INSECURE"),
        "BLOG_TITLE": os.environ.get("BLOG_TITLE", "A Redis Blog"),
        "KEY_PREFIX": os.environ.get("KEY_PREFIX", "blog:"),
        "COMMENT_MODERATION": _env_bool("COMMENT_MODERATION"),
        "POSTS_PER_PAGE": _env_int("POSTS_PER_PAGE", 10, 1, 100),
        "COMMENTS_PER_MINUTE": _env_int("COMMENTS_PER_MINUTE", 5, 1, 1000),
        # Media: S3 when S3_BUCKET is set (AWS_* credentials), else a local directory.
        "MAX_UPLOAD_MB": _env_int("MAX_UPLOAD_MB", 20, 1, 200),
        "MEDIA_ROOT": os.environ.get("MEDIA_ROOT", "var/media"),
        "S3_BUCKET": os.environ.get("S3_BUCKET", ""),
        "S3_PREFIX": os.environ.get("S3_PREFIX", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "MEDIA_URL": os.environ.get("MEDIA_URL", ""),
    }


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
