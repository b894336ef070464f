"""WordPress export files (WXR 1.0, 1.1, 1.2): a streaming reader (`wxr.py`) and the
conversion of post HTML to Markdown (`content.py`). Pure: no Flask, no Redis, no network."""

from .content import comment_text, image_sources, to_markdown
from .wxr import WxrAuthor, WxrComment, WxrError, WxrItem, count_items, read_wxr

__all__ = [
    "WxrAuthor",
    "comment_text",
    "WxrComment",
    "WxrError",
    "WxrItem",
    "count_items",
    "image_sources",
    "read_wxr",
    "to_markdown",
]
