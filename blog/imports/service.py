"""Importing a WordPress export (WXR): the work shared by the job and `flask import`.

Two streaming passes over the file: the first counts the items (for the progress bar),
the second imports them one by one through the data layer, so every write keeps the
blog's invariants and claims the item's origin in the same transaction (an import run
again, or retried after a killed worker, finds what is there and adds nothing twice).
The mapping is in docs/import.md.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from processing.archive.format import ReadableFile
from processing.images import EXTENSIONS, MIME_TYPES, UnsupportedImage, sniff_format
from processing.wordpress import (
    WxrAuthor,
    WxrError,
    WxrItem,
    comment_text,
    count_items,
    image_sources,
    read_wxr,
    to_markdown,
)

from ..data import AlreadyImported, DataLayer, ImportedPost, PostGone, PostInput, User
from ..data.imports import comment_origin, image_origin, post_origin
from ..data.models import (
    MAX_BODY,
    MAX_COMMENT,
    MAX_COMMENT_NAME,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MAX_TITLE,
    ImageRecord,
)
from ..data.posts import make_slug
from ..storage import MediaNotFound, MediaStorage
from .fetch import Fetcher, FetchError

log = logging.getLogger(__name__)

STATUSES = {"publish": "published", "future": "scheduled"}
DRAFT_STATUSES = {"draft", "pending", "private"}
MAX_LISTED_SKIPS = 500  # the report lists this many skipped items; it counts them all

Progress = Callable[[str, int, int | None], None]


def no_progress(step: str, done: int, total: int | None) -> None:
    """For callers with nothing to show."""


@dataclass
class Report:
    """What an import did: counts of what it brought in, of what was already there, and
    every item it left out with the reason."""

    posts: int = 0
    comments: int = 0
    images: int = 0
    tags: set[str] = field(default_factory=set)
    already: Counter[str] = field(default_factory=Counter)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_total: int = 0
    error: str | None = None  # why the file could not be read to its end
    images_seen: dict[str, str | None] = field(default_factory=dict)  # this run's, by URL

    def skip(self, what: str, reason: str) -> None:
        self.skipped_total += 1
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append({"item": what[:200], "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "comments": self.comments,
            "images": self.images,
            "tags": len(self.tags),
            "already": dict(self.already),
            "skipped": self.skipped,
            "skipped_total": self.skipped_total,
            "error": self.error,
        }


@dataclass(frozen=True)
class Importer:
    """Everything one import writes to, and how it fetches images and has them cleaned."""

    data: DataLayer
    storage: MediaStorage
    owner: User
    fetcher: Fetcher
    clean_image: Callable[[str], object]  # enqueues the uploads' cleaning job

    def run(self, open_source: Callable[[], ReadableFile], progress: Progress) -> dict[str, Any]:
        """Import the file `open_source()` opens (twice). A file that is not a readable
        WXR stops the import: the report then says why (`error`) and counts exactly what
        was imported before that point."""
        report = Report()
        try:
            progress("counting items", 0, None)
            with open_source() as source:
                total = count_items(source)
            self._import(open_source, total, report, progress)
        except WxrError as error:
            report.error = str(error)
        return report.as_dict()

    def _import(
        self,
        open_source: Callable[[], ReadableFile],
        total: int,
        report: Report,
        progress: Progress,
    ) -> None:
        authors: dict[str, str] = {}
        done = 0
        progress("importing", 0, total)
        with open_source() as source:
            for found in read_wxr(source):
                if isinstance(found, WxrAuthor):
                    authors[found.login] = found.display_name
                    continue
                self.item(found, authors, report)
                done += 1
                progress("importing", done, total)
        progress("done", total, total)

    def item(self, item: WxrItem, authors: dict[str, str], report: Report) -> None:
        label = f"{item.post_type} {item.title or item.origin!r}"
        if item.post_type == "attachment":
            if item.attachment_url:
                self.image(item.attachment_url, report)
            return
        if item.post_type != "post":
            report.skip(label, f"a {item.post_type}: only posts are imported")
            return
        status = STATUSES.get(item.status) or ("draft" if item.status in DRAFT_STATUSES else None)
        if status is None:
            report.skip(label, f"status {item.status or 'missing'}")
            return
        post_id = self.post(item, status, authors.get(item.creator, item.creator), report)
        if post_id is not None:
            self.comments(item, post_id, report)

    def post(self, item: WxrItem, status: str, author: str, report: Report) -> int | None:
        origin = post_origin(item.origin)
        known = self.data.imports.known(origin)
        if known and self.data.posts.get(int(known)):
            report.already["posts"] += 1  # its images were brought in with it
            return int(known)
        images = {url: self.image(url, report) for url in image_sources(item.content)}
        body = to_markdown(item.content, images)
        if len(body) > MAX_BODY:
            report.skip(f"post {item.title!r}", f"longer than {MAX_BODY:,} characters")
            return None
        when = item.date or time.time()
        if status == "scheduled" and when <= time.time():
            status = "published"  # its time came while it was being exported
        tags = _tags(item.tags)
        try:
            post = self.data.posts.create(
                self.owner.id,
                self.owner.username,
                PostInput(
                    title=(" ".join(item.title.split()) or "Untitled")[:MAX_TITLE],
                    body=body,
                    tags=tags,
                    status=status,
                    publish_at=when if status == "scheduled" else None,
                ),
                ImportedPost(origin, when, author[:MAX_COMMENT_NAME], unquote(item.name)),
            )
        except AlreadyImported as found:  # another run imported it meanwhile
            report.already["posts"] += 1
            return int(found.existing_id)
        report.posts += 1
        report.tags.update(tags)
        return post.id

    def comments(self, item: WxrItem, post_id: int, report: Report) -> None:
        for comment in item.comments:
            what = f"comment {comment.id} by {comment.author!r} on {item.title!r}"
            if comment.type in ("pingback", "trackback"):
                report.skip(what, f"a {comment.type}")
                continue
            if comment.approved != "1":
                report.skip(what, _unapproved(comment.approved))
                continue
            body = comment_text(comment.content)[:MAX_COMMENT]
            if not body:
                report.skip(what, "empty")
                continue
            name = (comment.author.strip() or "Anonymous")[:MAX_COMMENT_NAME]
            origin = comment_origin(item.origin, comment.id)
            try:
                self.data.comments.add(
                    post_id, self.owner.id, name, body, False, (origin, comment.date or time.time())
                )
                report.comments += 1
            except AlreadyImported:
                report.already["comments"] += 1
            except PostGone:
                report.skip(what, "its post was deleted during the import")
                return

    def image(self, url: str, report: Report) -> str | None:
        """The new URL of the image at `url` (fetched, stored, handed to the cleaning
        job), or None when it could not be brought in (listed in the report once)."""
        if url not in report.images_seen:
            report.images_seen[url] = self._image(url, report)
        return report.images_seen[url]

    def _image(self, url: str, report: Report) -> str | None:
        origin = image_origin(url)
        known = self.data.imports.known(origin)
        record = self.data.images.get(known) if known else None
        if record is not None and (record.status != "processing" or self._handed_over(record)):
            self.clean_image(record.id)  # enqueued once: a no-op unless a kill lost it
            report.already["images"] += 1
            return media_path(record)
        try:
            raw = self.fetcher.fetch(url)
            fmt = sniff_format(raw)
        except (FetchError, UnsupportedImage) as error:
            report.skip(f"image {url}", str(error))
            return None
        if record is None:
            try:
                record = self.data.images.create(
                    self.owner.id,
                    fmt,
                    EXTENSIONS[fmt],
                    MIME_TYPES[fmt],
                    len(raw),
                    url.rsplit("/", 1)[-1] or "image",
                    origin=origin,
                )
            except AlreadyImported as found:
                record = self.data.images.get(found.existing_id)
                assert record is not None
        # Or a try killed between `create` and this put left the record waiting for them.
        self.storage.put(record.incoming_key, raw, "application/octet-stream")
        self.clean_image(record.id)
        report.images += 1
        return media_path(record)

    def _handed_over(self, record: ImageRecord) -> bool:
        """Whether a processing image's bytes are in storage, waiting to be cleaned."""
        try:
            self.storage.size(record.incoming_key)
        except MediaNotFound:
            return False
        return True


def media_path(record: ImageRecord) -> str:
    """The site-relative URL of an image (the uploads blueprint's /media route)."""
    return f"/media/{record.id}/original.{record.ext}"


def _tags(names: list[str]) -> list[str]:
    """Categories and tags as the blog's tags: slugs, at most MAX_TAGS, each short."""
    tags: list[str] = []
    for name in names:
        tag = make_slug(name)[:MAX_TAG_LENGTH].strip("-")
        if tag and tag != "post" and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]


def _unapproved(approved: str) -> str:
    return {"spam": "spam", "trash": "in the trash", "0": "not approved"}.get(
        approved, f"approval {approved!r}"
    )


def fetcher_from(config: dict[str, Any]) -> Fetcher:
    """Images as large as an upload may be, within IMPORT_IMAGE_TIMEOUT seconds."""
    return Fetcher(
        max_bytes=config["MAX_UPLOAD_MB"] * 1024 * 1024,
        timeout=config["IMPORT_IMAGE_TIMEOUT"],
        allow_private=config["IMPORT_ALLOW_PRIVATE_HOSTS"],
    )


def upload_key(user_id: int, job_id: str) -> str:
    """Where an uploaded export file waits in media storage for its job."""
    return f"imports/{user_id}/{job_id}.xml"
