"""Sanitized post HTML (HTML5 from nh3) re-serialized as well-formed XHTML for EPUB.

The input only holds the sanitizer's allowlisted tags (blog/rendering.py), all of which
XHTML has; this keeps a few attributes per tag, closes void elements, escapes text for
XML, drops characters XML forbids, and lets the caller decide what each link and image
points to inside the book.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from xml.sax.saxutils import escape, quoteattr

VOID_TAGS = frozenset({"br", "hr", "img"})
KEEP_ATTRIBUTES = {
    "a": ("title",),
    "abbr": ("title",),
    "img": ("alt", "title", "width", "height"),
    "code": ("class",),
}
ALIGN = frozenset({"left", "right", "center"})
# Characters outside XML 1.0's Char production.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# href -> href to keep, or None to keep the link text only; src -> the book's file or None.
LinkMap = Callable[[str], str | None]


def xml_text(text: str) -> str:
    return escape(_NOT_XML.sub("", text))


def xml_attr(name: str, value: str) -> str:
    return f" {name}={quoteattr(_NOT_XML.sub('', value))}"


class _Serializer(HTMLParser):
    def __init__(self, link: LinkMap, image: LinkMap) -> None:
        super().__init__(convert_charrefs=True)
        self._link, self._image = link, image
        self.out: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "img":
            self._img(values)
            return
        text = "".join(xml_attr(k, values[k]) for k in KEEP_ATTRIBUTES.get(tag, ()) if k in values)
        if tag == "a" and values.get("href"):
            href = self._link(values["href"])
            text = (xml_attr("href", href) if href else "") + text
        if tag in ("td", "th") and values.get("align") in ALIGN:
            text += xml_attr("style", f"text-align: {values['align']}")
        if tag in VOID_TAGS:
            self.out.append(f"<{tag}{text}/>")
        else:
            self.out.append(f"<{tag}{text}>")
            self._open.append(tag)

    def _img(self, values: dict[str, str]) -> None:
        src = self._image(values.get("src", ""))
        alt = values.get("alt", "")
        if src is None:  # not an image of this blog: the book cannot embed it
            if values.get("src", "").startswith(("http://", "https://")):
                self.out.append(
                    f"<a{xml_attr('href', values['src'])}>{xml_text(alt or values['src'])}</a>"
                )
            else:
                self.out.append(xml_text(alt))
            return
        text = xml_attr("src", src) + xml_attr("alt", alt)
        text += "".join(
            xml_attr(k, values[k]) for k in ("title", "width", "height") if values.get(k)
        )
        self.out.append(f"<img{text}/>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self._open and self._open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._open:
            return  # a stray end tag
        while self._open:
            name = self._open.pop()
            self.out.append(f"</{name}>")
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        self.out.append(xml_text(data))

    def finish(self) -> str:
        self.close()
        while self._open:
            self.out.append(f"</{self._open.pop()}>")
        return "".join(self.out)


def to_xhtml(html: str, link: LinkMap, image: LinkMap) -> str:
    """The body fragment as XHTML; `link` and `image` map each href and src."""
    serializer = _Serializer(link, image)
    serializer.feed(html)
    return serializer.finish()
