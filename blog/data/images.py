"""Image records: a hash per upload, written by the web process (processing) and by the
cleaning job (ready or failed, each in one atomic write).

Which posts use an image is kept by PostStore (`image:<id>:posts`, `post:<id>:images`);
an image no post uses waits in `images:unused`, scored by when it became unused (0: its
post was deleted, it is due at once), until the cleanup job deletes it."""

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
            # Unused until a saved post shows it; the cleanup job gives it a day or so.
            pipe.zadd(self.keys.unused_images, {image_id: now})
            if origin:
                pipe.hset(self.keys.imported, origin, image_id)

        self.r.transaction(write, *([self.keys.imported] if origin else []))
        return ImageRecord.from_hash({str(k): str(v) for k, v in record.items()})

    def get(self, image_id: str) -> ImageRecord | None:
        h = cast("dict[str, str]", self.r.hgetall(self.keys.image(image_id)))
        return ImageRecord.from_hash(h) if h else None

    def get_many(self, image_ids: list[str], ready_only: bool = True) -> dict[str, ImageRecord]:
        """Images among `image_ids` (only the ready ones by default), by id; 1 round trip."""
        if not image_ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for image_id in image_ids:
            pipe.hgetall(self.keys.image(image_id))
        records = [ImageRecord.from_hash(h) for h in pipe.execute() if h]
        return {r.id: r for r in records if r.status == "ready" or not ready_only}

    # ---- unused images: the cleanup job ---------------------------------------------

    def unused_since(self, cutoff: float, limit: int = 500) -> list[str]:
        """Ids of images no post has used since `cutoff` (deleted posts' first)."""
        return cast(
            "list[str]",
            self.r.zrangebyscore(self.keys.unused_images, "-inf", cutoff, start=0, num=limit),
        )

    def retire(self, image_id: str) -> ImageRecord | None:
        """Mark an unused image deleted (its URLs answer 404 from now on) and return it;
        None when a post uses it again meanwhile (then it leaves the unused list)."""
        keys = self.keys
        retired: list[ImageRecord] = []

        def write(pipe: redis.client.Pipeline) -> None:
            retired.clear()  # the function runs again when a watched key changed
            in_use = pipe.scard(keys.image_posts(image_id))
            fields = cast("dict[str, str]", pipe.hgetall(keys.image(image_id)))
            pipe.multi()
            if in_use or not fields:
                pipe.zrem(keys.unused_images, image_id)
                return
            pipe.hset(keys.image(image_id), "status", "deleted")
            retired.append(ImageRecord.from_hash(fields))

        self.r.transaction(write, keys.image_posts(image_id), keys.image(image_id))
        return retired[0] if retired else None

    def forget(self, record: ImageRecord) -> None:
        """Drop a retired image's record once its files are gone from media storage."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.delete(self.keys.image(record.id), self.keys.image_posts(record.id))
            pipe.zrem(self.keys.user_images(record.owner_id), record.id)
            pipe.zrem(self.keys.unused_images, record.id)
            pipe.execute()

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
