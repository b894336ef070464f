"""The accepted formats, their MIME types and extensions, errors and result types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

MIME_TYPES: Mapping[str, str] = MappingProxyType(
    {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}
)
#: File extension the blog stores each format under (every variant shares it).
EXTENSIONS: Mapping[str, str] = MappingProxyType(
    {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}
)
MIME_BY_EXTENSION: Mapping[str, str] = MappingProxyType(
    {EXTENSIONS[fmt]: MIME_TYPES[fmt] for fmt in ACCEPTED_FORMATS}
)

#: Most pixels an accepted image may have (``MAX_IMAGE_PIXELS`` overrides it in the app).
#: 40 MP keeps a cleaning job under 300 MB peak for every format (docs/images.md).
DEFAULT_MAX_PIXELS = 40_000_000

#: Longest side in pixels of each variant :func:`make_variants` makes by default.
DEFAULT_SIZES: Mapping[str, int] = MappingProxyType({"web": 1600, "thumb": 400})

ACCEPTED_HUMAN = "JPEG, PNG, WebP or GIF"
HUMAN_NAMES = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "GIF": "GIF"}


class UnsupportedImage(ValueError):
    """The bytes are not one of :data:`ACCEPTED_FORMATS` (the message can be shown to users)."""


class BadImage(ValueError):
    """Corrupt, truncated or too large an image (the message can be shown to users)."""


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class CleanResult:
    """A cleaned upload: same pixels, no metadata except ICC and (minimal) orientation."""

    data: bytes
    format: str
    mime_type: str
    width: int  # upright (display) size: after the kept orientation is applied
    height: int
    removed: list[str]


@dataclass(frozen=True)
class Variant:
    """A resized, metadata-free rendering of a cleaned image (already upright)."""

    name: str
    data: bytes
    width: int
    height: int
    mime_type: str
