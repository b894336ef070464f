"""The records both document writers read, and the links between posts and images."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from processing.archive.format import ReadableFile

# An uploaded image as the editor links it: /media/<id>/<variant>.<ext>, possibly with
# the site's address in front. Every variant of an image maps to its one cleaned file.
MEDIA_LINK = re.compile(r"(?:https?://[^\s()<>\"']+)?/media/(?P<id>[\w-]{8,64})/\w+\.\w+")

# open_media(storage key) -> a readable binary stream (closed by the writer), or None
# when the file is missing (the document then leaves that image's link as it was).
OpenMedia = Callable[[str], ReadableFile | None]
# progress(posts written so far)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportImage:
    id: str
    ext: str
    mime_type: str
    media_key: str  # the cleaned original in media storage

    @property
    def filename(self) -> str:
        return f"{self.id}.{self.ext}"


@dataclass(frozen=True)
class ExportComment:
    id: int
    name: str
    body: str
    created_at: float
    status: str  # "approved" or "pending"


@dataclass(frozen=True)
class ExportPost:
    id: int
    slug: str
    title: str
    body: str  # Markdown as written
    html: str  # sanitized rendering
    status: str  # "draft", "published" or "scheduled"
    published_at: float  # 0 for drafts
    created_at: float
    updated_at: float
    author: str
    tags: list[str] = field(default_factory=list)
    old_slugs: list[str] = field(default_factory=list)
    comments: list[ExportComment] = field(default_factory=list)
    images: dict[str, ExportImage] = field(default_factory=dict)  # by image id

    @property
    def date(self) -> float:
        """Publishing time, or creation time for a draft (it has none yet)."""
        return self.published_at or self.created_at


def iso_utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rewrite_media_links(text: str, images: dict[str, ExportImage], prefix: str = "") -> str:
    """Point every link to an uploaded image at its file in the document."""

    def swap(match: re.Match[str]) -> str:
        image = images.get(match.group("id"))
        return prefix + image.filename if image else match.group(0)

    return MEDIA_LINK.sub(swap, text)
