"""Turning author Markdown and visitor text into safe HTML. Pure: no Flask, no Redis.

Markdown is CommonMark with GitHub's extensions (tables, fenced code, strikethrough,
autolinks, task lists), rendered by cmark-gfm (cmarkgfm): C, linear time on hostile
input (deep nesting, 60,000 brackets), see docs/security.md for the measurements.
Markdown may contain raw HTML, so its output always goes through an allowlist sanitizer
(nh3, the Ammonia crate): no <script>, no on*= attributes, no javascript: URLs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from markupsafe import Markup, escape

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "figcaption",
    "figure",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    # No srcset/sizes: ammonia does not check URLs in srcset (javascript:, data:); the
    # srcset of uploaded images is added after sanitizing, by _responsive().
    "img": {"src", "alt", "title", "width", "height", "loading"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}
# Task list items ("- [x] done") are disabled checkboxes, and nothing else may be an input.
TASK_CHECKBOX = {"input": {"type": {"checkbox"}, "checked": {""}, "disabled": {""}}}
URL_SCHEMES = {"http", "https", "mailto"}
GFM_EXTENSIONS = ["table", "autolink", "strikethrough", "tagfilter", "tasklist"]
EXCERPT_LENGTH = 280

_IMG = re.compile(r"<img\b[^>]*>")
# Anchored: the whole src is the media URL (site-relative, or on an http(s) host), so no
# author text before /media/ (a comma, a data: candidate) can reach the srcset built below.
_MEDIA_SRC = re.compile(
    r'\ssrc="(?P<base>(?:https?://[\w.-]+(?::\d+)?)?/media/(?P<id>[\w-]+)/)original\.(?P<ext>\w+)"'
)
MEDIA_ID = re.compile(r"/media/([\w-]{8,64})/original\.\w+")
# Post column is at most 46rem (736 px) wide; narrower screens use the full width.
IMAGE_SIZES = "(max-width: 46rem) 100vw, 46rem"

_URL = re.compile(r"""\bhttps?://[^\s<>"']+[^\s<>"'.,;:!?)\]]""", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
# Where one block ends and the next begins there is a space; inline tags (<em>, <a>...)
# vanish without one, so "the <em>boats</em>." stays "the boats.".
_BLOCK_TAGS = re.compile(
    r"</?(?:p|div|li|ul|ol|h[1-6]|blockquote|pre|table|thead|tbody|tr|td|th|figure"
    r"|figcaption|hr|br)\b[^>]*>",
    re.IGNORECASE,
)


# Built once: nh3.clean() converts these sets into the sanitizer's own on every call,
# a fifth of a post's rendering time.
_SANITIZER = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    tag_attribute_values=TASK_CHECKBOX,
    set_tag_attribute_values={"input": {"disabled": ""}},
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer",
)


@dataclass(frozen=True)
class ImageSizes:
    """What a page needs to show an uploaded image responsively."""

    width: int
    height: int
    variants: list[tuple[str, int]]  # (variant name, width in px)


def render_markdown(text: str, images: Mapping[str, ImageSizes] | None = None) -> str:
    """Markdown to sanitized HTML; uploaded images get width, height and a srcset."""
    # UNSAFE keeps raw HTML for nh3 to judge (the same as before: allowed tags survive).
    html = cmarkgfm.markdown_to_html_with_extensions(
        text, options=Options.CMARK_OPT_UNSAFE, extensions=GFM_EXTENSIONS
    )
    html = _SANITIZER.clean(html)
    return _IMG.sub(lambda m: _responsive(m.group(0), images or {}), html)


def _responsive(tag: str, images: Mapping[str, ImageSizes]) -> str:
    """Add dimensions (no layout shift) and a srcset of the variants to a media <img>."""
    src = _MEDIA_SRC.search(tag)
    sizes = images.get(src.group("id")) if src else None
    if src is None or sizes is None:
        return tag
    base, ext = src.group("base"), src.group("ext")
    srcset = ", ".join(f"{base}{name}.{ext} {width}w" for name, width in sizes.variants)
    extra = (
        f' width="{sizes.width}" height="{sizes.height}" srcset="{srcset}"'
        f' sizes="{IMAGE_SIZES}" loading="lazy" decoding="async"'
    )
    return tag[:-1].rstrip("/ ") + extra + ">"


def plain_text(html: str) -> str:
    """The words of a rendered body, tags dropped and entities decoded."""
    return str(Markup(" ".join(_TAGS.sub(" ", html).split())).unescape())


_ALT = re.compile(r'\salt="([^"]*)"')
WORDS_PER_MINUTE = 230


def cover_image(html: str, images: Mapping[str, ImageSizes]) -> dict | None:
    """The first uploaded image a rendered body shows, for listings and share cards:
    {"id", "ext", "alt", "variants": {name: [width, height]}}; None without one."""
    for tag in _IMG.findall(html):
        src = _MEDIA_SRC.search(tag)
        sizes = images.get(src.group("id")) if src else None
        if src is None or sizes is None:
            continue
        alt = _ALT.search(tag)
        return {
            "id": src.group("id"),
            "ext": src.group("ext"),
            "alt": str(Markup(alt.group(1)).unescape()) if alt else "",
            "variants": {
                name: [width, round(sizes.height * width / sizes.width)]
                for name, width in sizes.variants
            },
        }
    return None


def reading_minutes(html: str) -> int:
    """Minutes a reader needs for a rendered body, at least 1."""
    return max(1, round(len(plain_text(html).split()) / WORDS_PER_MINUTE))


def excerpt(html: str, length: int = EXCERPT_LENGTH) -> str:
    """Plain-text start of a rendered body, cut at a word boundary."""
    text = " ".join(_TAGS.sub("", _BLOCK_TAGS.sub(" ", html)).split())
    text = str(Markup(text).unescape())
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0] + "…"


def render_comment(text: str) -> Markup:
    """Visitor text: escaped, line breaks kept, bare links made rel="nofollow ugc"."""
    if _URL.search(text) is None:  # most comments: one escape, not a join of Markup parts
        return Markup(str(escape(text)).replace("\n", "<br>\n"))
    parts, last = [], 0
    for match in _URL.finditer(text):
        parts.append(escape(text[last : match.start()]))
        url = escape(match.group(0))
        parts.append(Markup('<a href="{0}" rel="nofollow ugc noopener">{0}</a>').format(url))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts).replace("\n", Markup("<br>\n"))
