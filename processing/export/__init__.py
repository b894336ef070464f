"""Documents built from a whole blog: a Markdown site bundle and an EPUB 3 book.

Pure code: posts come in as plain records (`ExportPost`), image bytes through a callable
that opens a media key, and the archive goes to any writable binary stream. No Flask, no
Redis: blog/exports/service.py feeds it from the data layer, tests feed it directly.
"""

from .common import ExportComment, ExportImage, ExportPost, OpenMedia, Progress
from .epub import BookInfo, write_epub
from .markdown_bundle import SiteInfo, write_markdown_bundle

__all__ = [
    "BookInfo",
    "ExportComment",
    "ExportImage",
    "ExportPost",
    "OpenMedia",
    "Progress",
    "SiteInfo",
    "write_epub",
    "write_markdown_bundle",
]
