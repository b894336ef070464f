"""Plain records that the data layer hands to views (no Redis types leak out)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

# What a post or comment may hold: the forms check these, and imports keep to them.
MAX_TITLE = 200
MAX_BODY = 200_000
MAX_TAGS = 20
MAX_TAG_LENGTH = 40
MAX_COMMENT_NAME = 80
MAX_COMMENT = 5000


def media_key(image_id: str, variant: str, ext: str) -> str:
    """Where an image's file lives in media storage (blog/storage.py)."""
    return f"images/{image_id}/{variant}.{ext}"


def to_datetime(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    password_hash: str
    email: str = ""  # where comment notices and password resets go; may be empty

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> User:
        return cls(
            id=int(h["id"]),
            username=h["username"],
            password_hash=h["password_hash"],
            email=h.get("email", ""),
        )


@dataclass(frozen=True)
class Cover:
    """A post's first uploaded image: its id, extension, alt text and variant sizes."""

    id: str
    ext: str
    alt: str
    variants: dict[str, list[int]]  # name -> [width, height]

    def pick(self, *names: str) -> tuple[str, int, int]:
        """(filename, width, height) of the first of `names` the image has."""
        for name in (*names, "original"):
            if name in self.variants:
                width, height = self.variants[name]
                return f"{name}.{self.ext}", width, height
        raise LookupError("an image always has its original")


@dataclass(frozen=True)
class Post:
    id: int
    slug: str
    title: str
    body: str  # Markdown as written; "" in listings
    html: str  # sanitized rendering, made once at write time; "" in listings
    excerpt: str
    author_id: int
    author: str
    status: str
    published_at: float  # 0 for drafts; in the future for scheduled posts
    created_at: float
    updated_at: float
    tags: list[str] = field(default_factory=list)
    comment_count: int = 0
    cover: Cover | None = None  # the first uploaded image in the body
    reading_minutes: int = 0  # 0: not known (saved before reading times were kept)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Post:
        """A Post from a value for every field, each of its type already, without the
        frozen dataclass's __init__: that sets each field by object.__setattr__, about
        4 µs a post, 40 µs (4%) of a listing page's CPU. For the listing (cards.py);
        tests/test_cards.py holds its posts equal to those the constructor makes."""
        post = object.__new__(cls)
        post.__dict__.update(fields)
        return post

    @classmethod
    def from_hash(cls, h: dict[str, str], tags: Iterable[str] = (), comments: int = 0) -> Post:
        cover = h.get("cover")  # "" for a post without images: no JSON to parse
        return cls(
            id=int(h["id"]),
            slug=h["slug"],
            title=h["title"],
            body=h.get("body", ""),
            html=h.get("html", ""),
            excerpt=h["excerpt"],
            author_id=int(h["author_id"]),
            author=h["author"],
            status=h["status"],
            published_at=float(h["published_at"]),
            created_at=float(h["created_at"]),
            updated_at=float(h["updated_at"]),
            tags=sorted(tags),
            comment_count=comments,
            cover=Cover(**json.loads(cover)) if cover else None,
            reading_minutes=int(h.get("reading_minutes") or 0),
        )

    def is_visible(self, now: float) -> bool:
        """Visible to everyone: published, or scheduled and its time has come."""
        return self.status != "draft" and self.published_at <= now

    @cached_property  # a listing's template asks up to three times per post
    def published(self) -> datetime | None:
        return to_datetime(self.published_at) if self.published_at else None

    @property
    def updated(self) -> datetime:
        return to_datetime(self.updated_at)


@dataclass(frozen=True)
class Revision:
    """Autosaved edits of a published or scheduled post, kept aside until "Update"."""

    title: str
    body: str
    tags: list[str]
    saved_at: float

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Revision:
        return cls(h["title"], h["body"], json.loads(h["tags"]), float(h["saved_at"]))

    @property
    def saved(self) -> datetime:
        return to_datetime(self.saved_at)


@dataclass(frozen=True)
class Comment:
    id: int
    post_id: int
    name: str
    body: str
    created_at: float
    status: str  # "approved" or "pending"

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Comment:
        return cls(
            id=int(h["id"]),
            post_id=int(h["post_id"]),
            name=h["name"],
            body=h["body"],
            created_at=float(h["created_at"]),
            status=h["status"],
        )

    @property
    def created(self) -> datetime:
        return to_datetime(self.created_at)


@dataclass(frozen=True)
class Page:
    """One page of a listing; `has_next` comes from fetching one item more than shown."""

    items: list
    number: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class ImageVariant:
    name: str  # "original", "web" or "thumb"
    width: int
    height: int
    bytes: int


@dataclass(frozen=True)
class ImageRecord:
    """An uploaded image; its bytes live in media storage, this describes them."""

    id: str
    owner_id: int
    status: str  # "processing", "ready", "failed" or "deleted" (no post used it)
    format: str  # what the content really is: "JPEG", "PNG", "WEBP", "GIF"
    ext: str
    mime_type: str
    bytes: int
    original_name: str  # for display only; never used as a storage key
    created_at: float
    width: int = 0
    height: int = 0
    removed: list[str] = field(default_factory=list)
    variants: list[ImageVariant] = field(default_factory=list)
    error: str = ""

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> ImageRecord:
        return cls(
            id=h["id"],
            owner_id=int(h["owner_id"]),
            status=h["status"],
            format=h["format"],
            ext=h["ext"],
            mime_type=h["mime_type"],
            bytes=int(h["bytes"]),
            original_name=h.get("original_name", ""),
            created_at=float(h["created_at"]),
            width=int(h.get("width", 0)),
            height=int(h.get("height", 0)),
            removed=json.loads(h.get("removed", "[]")),
            variants=[ImageVariant(**v) for v in json.loads(h.get("variants", "[]"))],
            error=h.get("error", ""),
        )

    def storage_key(self, variant: str = "original") -> str:
        return media_key(self.id, variant, self.ext)

    @property
    def incoming_key(self) -> str:
        return f"incoming/{self.id}"

    def storage_keys(self) -> list[str]:
        """Every file media storage may hold for this image: raw upload, original, variants."""
        names = dict.fromkeys(["original", *(v.name for v in self.variants)])
        return [self.incoming_key, *(self.storage_key(name) for name in names)]
