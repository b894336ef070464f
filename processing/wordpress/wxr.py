"""A streaming reader of WordPress export files (WXR: RSS 2.0 with the `wp:` namespace).

Safety: expat behind defusedxml with `forbid_dtd`, so a DOCTYPE (and with it every
entity declaration, "billion laughs", external entity or DTD fetch) is refused before
anything is expanded or fetched. Memory: each `<item>` is handed out and then dropped from
the tree, so a 200 MB file costs one item's worth of memory, not the file's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from ..archive.format import Readable

WP_NAMESPACE = re.compile(r"^https?://wordpress\.org/export/(1\.[0-2])/?$")
CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"
EMPTY_DATE = "0000-00-00 00:00:00"


class WxrError(ValueError):
    """The file is not a readable WordPress export; the message says why (and where)."""


@dataclass(frozen=True)
class WxrAuthor:
    login: str
    display_name: str


@dataclass(frozen=True)
class WxrComment:
    id: str
    author: str
    date: float | None  # UTC timestamp
    content: str
    approved: str  # "1", "0", "spam", "trash"
    type: str  # "", "comment", "pingback", "trackback"


@dataclass(frozen=True)
class WxrItem:
    title: str
    guid: str
    post_id: str
    post_type: str
    status: str
    date: float | None  # UTC timestamp: post_date_gmt, else post_date read as UTC
    name: str  # post_name, the slug
    content: str  # HTML as stored by WordPress
    creator: str  # the author's login (dc:creator)
    tags: list[str] = field(default_factory=list)  # categories and tags, by name
    comments: list[WxrComment] = field(default_factory=list)
    attachment_url: str = ""

    @property
    def origin(self) -> str:
        """What identifies the item across imports: its guid, else its WordPress id."""
        return self.guid or f"wp-post-id:{self.post_id}"


def parse_date(gmt: str, local: str = "") -> float | None:
    """A WXR date ("2024-05-01 12:00:00", UTC when from a *_gmt field) as a timestamp."""
    for text in (gmt.strip(), local.strip()):
        if text and text != EMPTY_DATE:
            try:
                return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
            except ValueError:
                continue
    return None


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _events(stream: Readable) -> Iterator[tuple[str, object]]:
    """iterparse with attacks refused and errors turned into WxrError with a line."""
    try:
        yield from iterparse(stream, events=("start", "end", "start-ns"), forbid_dtd=True)
    except ParseError as error:
        line, column = error.position
        reason = str(error).split(":", 1)[0]  # expat's words, e.g. "mismatched tag"
        raise WxrError(
            f"The file is not well-formed XML ({reason}) at line {line}, column {column + 1}."
        ) from None
    except DefusedXmlException as error:
        raise WxrError(
            "The file declares a DTD or entities, which a WordPress export never does; it "
            f"was refused unread ({type(error).__name__})."
        ) from None


class _Reader:
    """The state of one pass: the wp: namespace found, the channel, the open elements."""

    def __init__(self) -> None:
        self.wp: str | None = None
        self.version: str | None = None
        self.stack: list[Element] = []

    def q(self, name: str) -> str:
        return f"{{{self.wp}}}{name}"

    def start(self, element: Element) -> None:
        if not self.stack and element.tag != "rss":
            raise WxrError("This is not a WordPress export (WXR) file: it is not an RSS document.")
        self.stack.append(element)

    def namespace(self, uri: str) -> None:
        found = WP_NAMESPACE.match(uri)
        if found and self.wp is None:
            self.wp, self.version = uri, found.group(1)

    def require_wxr(self) -> None:
        if self.wp is None:
            raise WxrError(
                "This is not a WordPress export (WXR) file: it has no "
                "http://wordpress.org/export/1.x/ namespace."
            )


def read_wxr(stream: Readable) -> Iterator[WxrAuthor | WxrItem]:
    """Authors (`wp:author`, WXR 1.1+) and items, in file order, one at a time."""
    reader = _Reader()
    for event, payload in _events(stream):
        if event == "start-ns":
            reader.namespace(payload[1])  # type: ignore[index]
            continue
        element = payload
        assert isinstance(element, Element)
        if event == "start":
            reader.start(element)
            continue
        reader.stack.pop()
        parent = reader.stack[-1] if reader.stack else None
        if parent is None or parent.tag != "channel":
            continue  # inside an item (or the root): handled with its item
        reader.require_wxr()
        if element.tag == "item":
            yield _item(reader, element)
        elif element.tag == reader.q("author"):
            yield _author(reader, element)
        parent.remove(element)  # done with it: memory stays flat
    reader.require_wxr()


def count_items(stream: Readable) -> int:
    """How many items the file holds (a first, cheap pass for the progress bar)."""
    return sum(1 for found in read_wxr(stream) if isinstance(found, WxrItem))


def _author(reader: _Reader, element: Element) -> WxrAuthor:
    login = _text(element.find(reader.q("author_login")))
    return WxrAuthor(login, _text(element.find(reader.q("author_display_name"))) or login)


def _item(reader: _Reader, element: Element) -> WxrItem:
    def wp(name: str) -> str:
        return _text(element.find(reader.q(name)))

    content = element.find(CONTENT)
    return WxrItem(
        title=_text(element.find("title")),
        guid=_text(element.find("guid")),
        post_id=wp("post_id"),
        post_type=wp("post_type") or "post",
        status=wp("status"),
        date=parse_date(wp("post_date_gmt"), wp("post_date")),
        name=wp("post_name"),
        content=(content.text or "") if content is not None else "",
        creator=_text(element.find(DC_CREATOR)),
        tags=_tags(element),
        comments=[_comment(reader, c) for c in element.findall(reader.q("comment"))],
        attachment_url=wp("attachment_url"),
    )


def _tags(element: Element) -> list[str]:
    """Categories and tags by name (WordPress's default "Uncategorized" left out)."""
    names = []
    for category in element.findall("category"):
        name = _text(category)
        if name and category.get("nicename") != "uncategorized" and name not in names:
            names.append(name)
    return names


def _comment(reader: _Reader, element: Element) -> WxrComment:
    def wp(name: str) -> str:
        return _text(element.find(reader.q(name)))

    content = element.find(reader.q("comment_content"))
    return WxrComment(
        id=wp("comment_id"),
        author=wp("comment_author"),
        date=parse_date(wp("comment_date_gmt"), wp("comment_date")),
        content=((content.text or "") if content is not None else "").strip(),
        approved=wp("comment_approved"),
        type=wp("comment_type"),
    )
