"""WordPress imports (blog/imports): what was imported, and each author's latest import.

`imported` (hash) maps an item's origin to the id it got here: `post:<guid>`,
`comment:<post guid>#<WordPress comment id>`, `image:<URL>`. The stores write the entry
in the same transaction as the post, comment or image (posts.py, comments.py,
images.py), so an import killed at any point and run again finds each item once.
`import:<user>` (hash: job_id, claimed_at, name, report) is the author's latest import.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

import redis

from .claims import IsRunning, claim_job
from .keys import Keys


class AlreadyImported(LookupError):
    """This origin was imported before and what it became still exists."""

    def __init__(self, existing_id: str) -> None:
        super().__init__(existing_id)
        self.existing_id = existing_id


def post_origin(guid: str) -> str:
    return f"post:{guid}"


def comment_origin(post_guid: str, comment_id: str) -> str:
    return f"comment:{post_guid}#{comment_id}"


def image_origin(url: str) -> str:
    return f"image:{url}"


def check_not_imported(
    pipe: redis.client.Pipeline, keys: Keys, origin: str, key_of: Callable[[str], str]
) -> None:
    """Inside a transaction that WATCHes `keys.imported`: raise AlreadyImported when
    `origin` maps to an id whose key (`key_of(id)`) still exists."""
    existing = cast("str | None", pipe.hget(keys.imported, origin))
    if existing is not None and pipe.exists(key_of(existing)):
        raise AlreadyImported(existing)


class ImportStore:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r, self.keys = r, keys

    def known(self, origin: str) -> str | None:
        """The id `origin` got when it was imported, if it was."""
        return cast("str | None", self.r.hget(self.keys.imported, origin))

    def claim(self, user_id: int, job_id: str, name: str, running: IsRunning) -> tuple[str, bool]:
        """Record `job_id` as the author's import unless another one still runs."""
        return claim_job(self.r, self.keys.import_run(user_id), job_id, {"name": name}, running)

    def latest(self, user_id: int) -> dict[str, Any]:
        """The author's latest import: job_id, claimed_at, name and (once done) report."""
        found = cast("dict[str, str]", self.r.hgetall(self.keys.import_run(user_id)))
        if not found:
            return {}
        report = found.get("report")
        return {**found, "report": json.loads(report) if report else None}

    def finish(self, user_id: int, job_id: str, report: dict[str, Any]) -> None:
        """Keep the report with the import it belongs to (a newer claim is left alone)."""
        key = self.keys.import_run(user_id)

        def attempt(pipe: redis.client.Pipeline) -> None:
            if pipe.hget(key, "job_id") != job_id:
                return
            pipe.multi()
            pipe.hset(key, "report", json.dumps(report))

        self.r.transaction(attempt, key)
