"""WordPress post HTML to Markdown that the blog's editor and sanitizer take as is.

WordPress stores what the author's editor produced: block markup (`<!-- wp:... -->`
comments around HTML), classic-editor text whose paragraphs are blank lines (WordPress
adds the `<p>`s only when it displays a post), and shortcodes (`[caption]`, `[gallery]`,
`[embed]`...). Shortcodes are WordPress's own bracket syntax, read here the way its
`get_shortcode_regex()` does; the HTML itself is converted by markdownify. Whatever the
result holds, the blog's sanitizer (blog/rendering.py) still has the last word.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bs4 import BeautifulSoup
from bs4.element import Tag
from markdownify import MarkdownConverter

BLOCK_COMMENT = re.compile(r"<!--\s*/?wp:.*?-->", re.S)
# [caption id="..." align="..." width="300"]<a><img></a> The caption text[/caption]
CAPTION = re.compile(r"\[caption\b[^\]]*\](.*?)\[/caption\]", re.S | re.I)
CAPTION_PARTS = re.compile(r"^\s*((?:<a\b[^>]*>\s*)?<img\b[^>]*>(?:\s*</a>)?)(.*)$", re.S | re.I)
ESCAPED_SHORTCODE = re.compile(r"\[(\[[^\[\]]+\])\]")  # [[gallery]] shows "[gallery]"
SHORTCODE = re.compile(r"\[/?[a-zA-Z][\w-]*(?:\s[^\[\]]*)?/?\]")
# A paragraph that already is a block of HTML is left as it is by autop.
BLOCK_START = re.compile(
    r"^\s*<(?:p|div|h[1-6]|ul|ol|li|blockquote|pre|figure|table|hr|section|article|iframe)\b",
    re.I,
)
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
PLACEHOLDER = "\x00wp-shortcode-{}\x00"


def _captions(html: str) -> str:
    def figure(match: re.Match[str]) -> str:
        parts = CAPTION_PARTS.match(match.group(1))
        if parts is None:
            return match.group(1)
        image, caption = parts.group(1), parts.group(2).strip()
        caption_html = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure>{image}{caption_html}</figure>"

    return CAPTION.sub(figure, html)


def _shortcodes(html: str) -> str:
    """Shortcode tags dropped, what they enclose kept; [[x]] kept as the text [x]."""
    kept: list[str] = []

    def keep(match: re.Match[str]) -> str:
        kept.append(match.group(1))
        return PLACEHOLDER.format(len(kept) - 1)

    html = SHORTCODE.sub("", ESCAPED_SHORTCODE.sub(keep, html))
    for number, text in enumerate(kept):
        html = html.replace(PLACEHOLDER.format(number), text)
    return html


def autop(html: str) -> str:
    """WordPress's wpautop, simplified: blank-line paragraphs become <p>, single line
    breaks <br>, except in chunks that already are block HTML."""
    chunks = [c.strip() for c in PARAGRAPH_BREAK.split(html.replace("\r\n", "\n")) if c.strip()]
    return "\n".join(
        c if BLOCK_START.match(c) else "<p>" + c.replace("\n", "<br>") + "</p>" for c in chunks
    )


def clean_wordpress_html(html: str) -> str:
    """Block comments out, [caption] as <figure>, other shortcodes unwrapped, <p>s in."""
    return autop(_shortcodes(_captions(BLOCK_COMMENT.sub("", html))))


def image_sources(html: str) -> list[str]:
    """The http(s) URLs of the images a post shows, in order, each once."""
    if "<img" not in html.lower():
        return []  # most posts: no need to parse
    soup = BeautifulSoup(html, "html.parser")
    found: list[str] = []
    for img in soup.find_all("img"):
        src = str(img.get("src") or "").strip() if isinstance(img, Tag) else ""
        if src.lower().startswith(("http://", "https://")) and src not in found:
            found.append(src)
    return found


class _Converter(MarkdownConverter):
    """markdownify with images mapped to their new URLs (or, when an image could not be
    brought in, a link to where it was) and embeds as links."""

    def __init__(self, images: Mapping[str, str | None]) -> None:
        super().__init__(
            heading_style="ATX",
            bullets="-",
            code_language="",
            strip=["noscript", "form", "input", "button", "select", "textarea"],
        )
        self.images = images

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        src = str(el.get("src") or "").strip()
        alt = " ".join(str(el.get("alt") or "").split()).replace("]", "")
        if src in self.images and self.images[src] is None:
            return f"[{alt or 'image'}]({src})"  # not imported: the original stays reachable
        new = self.images.get(src, src)
        return f"![{alt}]({new})" if new else alt

    def convert_iframe(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        src = str(el.get("src") or "").strip()
        return f"\n\n<{src}>\n\n" if src.lower().startswith(("http://", "https://")) else ""

    def convert_figcaption(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return f"\n\n*{text.strip()}*\n\n" if text.strip() else ""


def to_markdown(html: str, images: Mapping[str, str | None] | None = None) -> str:
    """Markdown for a WordPress post body; `images` maps original image URLs to new ones
    (None: it failed, keep a link to the original)."""
    images = images or {}
    soup = BeautifulSoup(clean_wordpress_html(html), "html.parser")
    for link in soup.find_all("a"):
        if isinstance(link, Tag) and str(link.get("href") or "").strip() in images:
            link.unwrap()  # a link to the full-size original: the image itself is enough
    text = _Converter(images).convert_soup(soup)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def comment_text(html: str) -> str:
    """A WordPress comment (a little HTML) as the plain text the blog's comments are."""
    soup = BeautifulSoup(clean_wordpress_html(html), "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for paragraph in soup.find_all("p"):
        paragraph.append("\n\n")
    for hidden in soup.find_all(["script", "style"]):
        hidden.decompose()
    lines = (line.strip() for line in soup.get_text().splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
