"""Image records: a hash per upload, written by the web process (processing) and by the
cleaning job (ready or failed, each in one atomic write)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict
from typing import cast

import redis
from redis.typing import EncodableT, FieldT

from .imports import check_not_imported
from .keys import Keys
from .models import ImageRecord, ImageVariant


class ImageStore:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def create(
        self,
        owner_id: int,
        fmt: str,
        ext: str,
        mime_type: str,
        size: int,
        original_name: str,
        origin: str | None = None,
    ) -> ImageRecord:
        """A new image, `processing`. With `origin` (an import's image URL) it is claimed
        in `imported` in the same transaction: AlreadyImported if that image is here."""
        image_id = secrets.token_urlsafe(12)  # unguessable: processing images stay private
        now = time.time()
        record: dict[FieldT, EncodableT] = {
            "id": image_id,
            "owner_id": owner_id,
            "status": "processing",
            "format": fmt,
            "ext": ext,
            "mime_type": mime_type,
            "bytes": size,
            "original_name": original_name[:200],
            "created_at": now,
        }

        def write(pipe: redis.client.Pipeline) -> None:
            if origin:
                check_not_imported(pipe, self.keys, origin, self.keys.image)
            pipe.multi()
            pipe.hset(self.keys.image(image_id), mapping=record)
            pipe.zadd(self.keys.user_images(owner_id), {image_id: now})
            if origin:
                pipe.hset(self.keys.imported, origin, image_id)

        self.r.transaction(write, *([self.keys.imported] if origin else []))
        return ImageRecord.from_hash({str(k): str(v) for k, v in record.items()})

    def get(self, image_id: str) -> ImageRecord | None:
        h = cast("dict[str, str]", self.r.hgetall(self.keys.image(image_id)))
        return ImageRecord.from_hash(h) if h else None

    def get_many(self, image_ids: list[str]) -> dict[str, ImageRecord]:
        """Ready images among `image_ids`, by id, in one round trip."""
        if not image_ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for image_id in image_ids:
            pipe.hgetall(self.keys.image(image_id))
        records = [ImageRecord.from_hash(h) for h in pipe.execute() if h]
        return {r.id: r for r in records if r.status == "ready"}

    def mark_ready(
        self,
        image_id: str,
        width: int,
        height: int,
        removed: list[str],
        variants: list[ImageVariant],
    ) -> None:
        self.r.hset(
            self.keys.image(image_id),
            mapping={
                "status": "ready",
                "width": width,
                "height": height,
                "removed": json.dumps(removed),
                "variants": json.dumps([asdict(v) for v in variants]),
                "updated_at": time.time(),
            },
        )

    def mark_failed(self, image_id: str, message: str) -> None:
        self.r.hset(
            self.keys.image(image_id),
            mapping={"status": "failed", "error": message, "updated_at": time.time()},
        )
