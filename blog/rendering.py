"""Turning author Markdown and visitor text into safe HTML. Pure: no Flask, no Redis.

Markdown may contain raw HTML, so its output always goes through an allowlist sanitizer
(nh3, the Ammonia crate): no <script>, no on*= attributes, no javascript: URLs.
"""

from __future__ import annotations

import re

import markdown
import nh3
from markupsafe import Markup, escape

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "figcaption", "figure",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s",
    "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height", "srcset", "sizes", "loading"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}
EXCERPT_LENGTH = 280

_URL = re.compile(r"""\bhttps?://[^\s<>"']+[^\s<>"'.,;:!?)\]]""", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


def render_markdown(text: str) -> str:
    """Markdown to sanitized HTML."""
    html = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="noopener noreferrer")


def excerpt(html: str, length: int = EXCERPT_LENGTH) -> str:
    """Plain-text start of a rendered body, cut at a word boundary."""
    text = " ".join(_TAGS.sub(" ", html).split())
    text = str(Markup(text).unescape())
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0] + "…"


def render_comment(text: str) -> Markup:
    """Visitor text: escaped, line breaks kept, bare links made rel="nofollow ugc"."""
    parts, last = [], 0
    for match in _URL.finditer(text):
        parts.append(escape(text[last:match.start()]))
        url = escape(match.group(0))
        parts.append(Markup('<a href="{0}" rel="nofollow ugc noopener">{0}</a>').format(url))
        last = match.end()
    parts.append(escape(text[last:]))
    return Markup("").join(parts).replace("\n", Markup("<br>\n"))
