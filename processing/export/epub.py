"""An EPUB 3 book of posts, written with the standard library.

Layout of the container (OCF):

    mimetype                          first, stored: "application/epub+zip"
    META-INF/container.xml            points at OEBPS/content.opf
    OEBPS/content.opf                 metadata, manifest, spine (publishing order)
    OEBPS/nav.xhtml                   the table of contents
    OEBPS/title.xhtml                 blog title, authors, date
    OEBPS/text/post-<id>.xhtml        one chapter per post
    OEBPS/images/<id>.<ext>           every uploaded image the posts show

Chapters and images are written as the posts arrive; the manifest, spine and contents
entries go to temporary files and become content.opf and nav.xhtml at the end, so
memory does not grow with the number of posts.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from processing.archive.format import Writable

from .common import MEDIA_LINK, ExportImage, ExportPost, OpenMedia, Progress
from .xhtml import to_xhtml, xml_attr, xml_text
from .zipstream import ZipWriter

CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>
"""
STYLE = """body { font-family: serif; line-height: 1.5; }
h1 { font-size: 1.6em; }
.meta { color: #555; font-size: 0.9em; }
img { max-width: 100%; height: auto; }
pre { white-space: pre-wrap; font-size: 0.85em; }
table { border-collapse: collapse; }
td, th { border: 1px solid #999; padding: 0.2em 0.4em; }
.title-page { text-align: center; margin-top: 20%; }
"""
XHTML_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" \
xml:lang="{lang}" lang="{lang}">
<head><meta charset="UTF-8"/><title>{title}</title>\
<link rel="stylesheet" type="text/css" href="{css}"/></head>
<body>
"""


@dataclass(frozen=True)
class BookInfo:
    title: str
    subtitle: str = ""  # e.g. "Posts tagged redis"
    language: str = "en"
    site_url: str = ""  # links to the blog's own pages become absolute with it
    identifier: str = field(default_factory=lambda: f"urn:uuid:{uuid.uuid4()}")
    created: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


def _page(book: BookInfo, title: str, body: str, css: str = "style.css") -> bytes:
    head = XHTML_HEAD.format(lang=book.language, title=xml_text(title), css=css)
    return (head + body + "\n</body>\n</html>\n").encode("utf-8")


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%-d %B %Y")


class _Spool:
    """Lines kept on disk until the end of the book."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by copy_to)

    def add(self, line: str) -> None:
        self.file.write(line.encode("utf-8") + b"\n")

    def copy_to(self, out: IO[bytes]) -> None:
        self.file.seek(0)
        while chunk := self.file.read(256 * 1024):
            out.write(chunk)
        self.file.close()


class _Book:
    def __init__(self, archive: ZipWriter, open_media: OpenMedia, book: BookInfo) -> None:
        self.archive, self.open_media, self.book = archive, open_media, book
        self.manifest, self.spine, self.toc = _Spool(), _Spool(), _Spool()
        self.images: set[str] = set()  # ids already in the book
        self.authors: list[str] = []
        self.counts = {"posts": 0, "images": 0, "comments": 0}

    def _link(self, href: str) -> str | None:
        if href.startswith(("http://", "https://", "mailto:")):
            return href
        if href.startswith("/") and not href.startswith("//") and self.book.site_url:
            return self.book.site_url.rstrip("/") + href
        return None  # a fragment or relative link has nothing to point at in the book

    def _add_image(self, image: ExportImage) -> None:
        if image.id in self.images:
            return
        source = self.open_media(image.media_key)
        if source is None:
            return
        with source:
            self.archive.add_stream(f"OEBPS/images/{image.filename}", source)
        self.images.add(image.id)
        self.counts["images"] += 1
        self.manifest.add(
            f'<item id="img-{image.id}" href="images/{image.filename}" '
            f'media-type="{image.mime_type}"/>'
        )

    def add_post(self, post: ExportPost) -> None:
        for image in post.images.values():
            self._add_image(image)
        files = {i.id: i.filename for i in post.images.values()}

        def image_src(src: str) -> str | None:
            match = MEDIA_LINK.fullmatch(src)
            if match and match.group("id") in self.images and match.group("id") in files:
                return "../images/" + files[match.group("id")]
            return None

        if post.author not in self.authors:
            self.authors.append(post.author)
        name = f"text/post-{post.id}.xhtml"
        meta = _day(post.date) + (" · " + ", ".join(post.tags) if post.tags else "")
        body = (
            f'<section epub:type="chapter"><h1>{xml_text(post.title)}</h1>\n'
            f'<p class="meta">{xml_text(meta)}</p>\n'
            f"{to_xhtml(post.html, self._link, image_src)}\n</section>"
        )
        self.archive.add_bytes("OEBPS/" + name, _page(self.book, post.title, body, "../style.css"))
        self.manifest.add(
            f'<item id="post-{post.id}" href="{name}" media-type="application/xhtml+xml"/>'
        )
        self.spine.add(f'<itemref idref="post-{post.id}"/>')
        self.toc.add(f"<li><a{xml_attr('href', name)}>{xml_text(post.title)}</a></li>")
        self.counts["posts"] += 1
        self.counts["comments"] += len(post.comments)

    def finish(self) -> None:
        book, archive = self.book, self.archive
        authors = ", ".join(self.authors)
        title_body = (
            f'<section class="title-page" epub:type="titlepage"><h1>{xml_text(book.title)}</h1>'
            + (f"<p>{xml_text(book.subtitle)}</p>" if book.subtitle else "")
            + (f"<p>by {xml_text(authors)}</p>" if authors else "")
            + f"<p>{xml_text(book.created.strftime('%-d %B %Y'))}</p></section>"
        )
        archive.add_bytes("OEBPS/title.xhtml", _page(book, book.title, title_body))
        archive.add_bytes("OEBPS/style.css", STYLE.encode("utf-8"))
        self._write_nav()
        self._write_opf()

    def _write_nav(self) -> None:
        out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _add_file)
        head = XHTML_HEAD.format(lang=self.book.language, title="Contents", css="style.css")
        out.write(head.encode("utf-8"))
        out.write(
            b'<nav epub:type="toc" id="toc"><h1>Contents</h1><ol>\n'
            b'<li><a href="title.xhtml">Title page</a></li>\n'
        )
        self.toc.copy_to(out)
        out.write(b"</ol></nav>\n</body>\n</html>\n")
        self._add_file("OEBPS/nav.xhtml", out)

    def _write_opf(self) -> None:
        book = self.book
        stamp = book.created.strftime("%Y-%m-%dT%H:%M:%SZ")
        creators = "".join(f"<dc:creator>{xml_text(a)}</dc:creator>\n" for a in self.authors)
        title = book.title + (f": {book.subtitle}" if book.subtitle else "")
        out = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _add_file)
        out.write(
            (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
                f'unique-identifier="book-id" xml:lang="{book.language}">\n'
                '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
                f'<dc:identifier id="book-id">{xml_text(book.identifier)}</dc:identifier>\n'
                f"<dc:title>{xml_text(title)}</dc:title>\n"
                f"<dc:language>{book.language}</dc:language>\n{creators}"
                f"<dc:date>{stamp}</dc:date>\n"
                f'<meta property="dcterms:modified">{stamp}</meta>\n</metadata>\n<manifest>\n'
                '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" '
                'properties="nav"/>\n'
                '<item id="title" href="title.xhtml" media-type="application/xhtml+xml"/>\n'
                '<item id="css" href="style.css" media-type="text/css"/>\n'
            ).encode()
        )
        self.manifest.copy_to(out)
        out.write(b'</manifest>\n<spine>\n<itemref idref="title"/>\n<itemref idref="nav"/>\n')
        self.spine.copy_to(out)
        out.write(b"</spine>\n</package>\n")
        self._add_file("OEBPS/content.opf", out)

    def _add_file(self, name: str, spooled: IO[bytes]) -> None:
        spooled.seek(0)
        with spooled:
            self.archive.add_stream(name, spooled, compress=True)


def write_epub(
    out: Writable,
    posts: Iterable[ExportPost],
    open_media: OpenMedia,
    book: BookInfo,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the book to `out`, posts in the order given (publishing order)."""
    archive = ZipWriter(out, timestamp=book.created.timestamp())
    try:
        # OCF: the first entry, uncompressed, sizes in its header.
        archive.add_bytes("mimetype", b"application/epub+zip", compress=False)
        archive.add_bytes("META-INF/container.xml", CONTAINER.encode("utf-8"))
        writer = _Book(archive, open_media, book)
        for post in posts:
            writer.add_post(post)
            if progress:
                progress(writer.counts["posts"])
        writer.finish()
        counts = dict(writer.counts, bytes=archive.close())
    except BaseException:
        archive.abort()
        raise
    return counts
