"""Building a document from the data layer: what the job, the CLI and the page share.

The writers are pure (processing/export); this feeds them posts batch by batch from
Redis and image files from media storage, names the result and cleans up old ones.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slugify import slugify

from processing.archive.format import ReadableFile, Writable
from processing.export import (
    BookInfo,
    ExportComment,
    ExportImage,
    ExportPost,
    OpenMedia,
    SiteInfo,
    write_epub,
    write_markdown_bundle,
)

from ..data import DataLayer, PostForExport
from ..storage import MediaNotFound, MediaStorage

log = logging.getLogger(__name__)

EXPORTS_PREFIX = "exports/"
DOWNLOAD_URL_SECONDS = 600  # presigned S3 links expire after 10 minutes
_STAMP = "%Y%m%dT%H%M%SZ"
_KEY = re.compile(r"exports/\d+/(?P<stamp>\d{8}T\d{6}Z)-[\w.-]+")

# progress(step, done, total): step is "counting", "writing" or "storing".
Progress = Callable[[str, int, int | None], None]


def _no_progress(step: str, done: int, total: int | None) -> None:
    pass


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    ext: str
    mime_type: str


FORMATS = {
    "markdown": Format("markdown", "Markdown site bundle (.zip)", "zip", "application/zip"),
    "epub": Format("epub", "EPUB book (.epub)", "epub", "application/epub+zip"),
}


def storage_key(user_id: int, fmt: str, when: datetime, job_id: str) -> str:
    """exports/<author>/<UTC time>-<format>-<job>.<ext>: the time in the name lets the
    cleanup work from a listing alone, even for files Redis no longer knows."""
    safe_job = re.sub(r"[^\w-]", "", job_id)[:36]
    return f"{EXPORTS_PREFIX}{user_id}/{when:{_STAMP}}-{fmt}-{safe_job}.{FORMATS[fmt].ext}"


def download_name(blog_title: str, fmt: str, tag: str, when: datetime) -> str:
    """An ASCII file name for the download, e.g. a-redis-blog-2026-12-01-redis.epub."""
    parts = [slugify(blog_title) or "blog", f"{when:%Y-%m-%d}", slugify(tag) if tag else ""]
    return "-".join(p for p in parts if p) + "." + FORMATS[fmt].ext


def _to_export(item: PostForExport) -> ExportPost:
    post = item.post
    return ExportPost(
        id=post.id,
        slug=post.slug,
        title=post.title,
        body=post.body,
        html=post.html,
        status=post.status,
        published_at=post.published_at,
        created_at=post.created_at,
        updated_at=post.updated_at,
        author=post.author,
        tags=post.tags,
        old_slugs=item.old_slugs,
        comments=[
            ExportComment(c.id, c.name, c.body, c.created_at, c.status) for c in item.comments
        ],
        images={
            i: ExportImage(r.id, r.ext, r.mime_type, r.storage_key())
            for i, r in item.images.items()
        },
    )


def _open_media(storage: MediaStorage) -> OpenMedia:
    def open_media(key: str) -> ReadableFile | None:
        try:
            return storage.open(key)
        except MediaNotFound:
            log.warning("export: image file %s is missing; its link is kept as it was", key)
            return None

    return open_media


def build_document(
    data: DataLayer,
    storage: MediaStorage,
    config: Mapping[str, Any],
    *,
    fmt: str,
    out: Writable,
    tag: str = "",
    draft_authors: Sequence[int] = (),
    site_url: str = "",
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the document to `out`; returns its counts and size.

    Markdown: every published and scheduled post, then the drafts of `draft_authors`.
    EPUB: the posts visible now (of `tag` if given), in publishing order.
    """
    report: Progress = progress or _no_progress
    epub = fmt == "epub"
    report("counting", 0, None)
    drafts = [] if epub else list(draft_authors)
    total = data.exports.count(tag or None, epub, drafts)
    report("writing", 0, total)

    def posts() -> Iterator[ExportPost]:
        for batch in data.exports.batches(tag or None, epub, drafts):
            yield from (_to_export(item) for item in batch)

    def written(done: int) -> None:
        report("writing", done, max(total, done))

    title = config["BLOG_TITLE"]
    if epub:
        # Links to the blog's own pages need its address: the one the author used, else
        # SITE_URL (the CLI has no request).
        base = site_url or config.get("SITE_URL", "")
        book = BookInfo(title, f"Posts tagged {tag}" if tag else "", site_url=base)
        return write_epub(out, posts(), _open_media(storage), book, written)
    return write_markdown_bundle(out, posts(), _open_media(storage), SiteInfo(title), written)


def expired_keys(keys: Iterable[str], keep_hours: int, now: datetime) -> list[str]:
    """Exported files built more than `keep_hours` ago (and stray files under exports/
    that do not carry a time)."""
    limit = now - timedelta(hours=keep_hours)
    old = []
    for key in keys:
        match = _KEY.fullmatch(key)
        built = datetime.strptime(match["stamp"], _STAMP).replace(tzinfo=UTC) if match else None
        if built is None or built < limit:
            old.append(key)
    return old


def cleanup(storage: MediaStorage, keep_hours: int, now: datetime | None = None) -> list[str]:
    """Delete exported files older than `keep_hours`; returns their keys."""
    old = expired_keys(storage.keys(EXPORTS_PREFIX), keep_hours, now or datetime.now(UTC))
    for key in old:
        storage.delete(key)
    return old
