"""The backup part of /healthz: the age of the last good backup."""

from __future__ import annotations

import time

from flask import current_app

from ..data import get_data
from ..health import check


@check
def backup_check() -> tuple[str, dict]:
    """A warning past BACKUP_WARN_HOURS (36) since the last good backup, or if none."""
    try:
        last_good = get_data().backups.last_good()
    except Exception:  # Redis down: redis_check reports it
        return "ok", {"backup": "unknown", "last_good_backup_age_seconds": None}
    if not last_good:
        return "warning", {"backup": "missing", "last_good_backup_age_seconds": None}
    age = max(0, int(time.time() - float(last_good["started_at"])))
    limit = current_app.config["BACKUP_WARN_HOURS"] * 3600
    level = "warning" if age > limit else "ok"
    return level, {
        "backup": level,
        "last_good_backup_age_seconds": age,
        "last_good_backup": last_good.get("key"),
    }
