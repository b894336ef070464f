"""Helpers for the export tests: a blog with every kind of content the documents carry."""

from __future__ import annotations

import io
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bench.backup import populate
from blog.data import DataLayer, ImageVariant, PostInput
from tests.backup_helpers import TITLES
from tests.helpers import PASSWORD

FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}
CODE_AND_TABLE = (
    "Some *Markdown* with `inline code` & <b>raw HTML</b>.\n\n"
    "```python\nprint('<tag> & \"quotes\"')\n```\n\n"
    "| left | centre | right |\n|:--|:-:|--:|\n| 1 | ✓ | 3 |\n\n"
    "[a link](https://example.org) · [own page](/tags) · [anchor](#nowhere)\n"
)


def image_bytes(fmt: str, colour: str = "teal", size: tuple[int, int] = (24, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


def add_image(data: DataLayer, storage, owner_id: int, fmt: str) -> str:
    """A ready image as the cleaning job leaves it; returns the Markdown that shows it."""
    ext = FORMATS[fmt]
    body = image_bytes(fmt)
    record = data.images.create(owner_id, fmt, ext, MIME[fmt], len(body), f"photo.{ext}")
    storage.put(record.storage_key(), body, MIME[fmt])
    data.images.mark_ready(record.id, 24, 16, [], [ImageVariant("original", 24, 16, len(body))])
    return f"![A {fmt} picture 🖼](/media/{record.id}/original.{ext})"


@dataclass
class Blog:
    author: object
    published: list = field(default_factory=list)  # visible now, oldest first
    drafts: list = field(default_factory=list)
    scheduled: list = field(default_factory=list)
    renamed: object = None  # a published post whose title (and slug) changed
    old_slug: str = ""
    image_ids: dict = field(default_factory=dict)  # post id -> image ids it shows


def make_blog(data: DataLayer, storage, username: str = "alice") -> Blog:
    """Unicode titles, emoji tags, code, tables, images in every format, comments
    (approved and pending), drafts, a scheduled post and a renamed post."""
    author = data.users.by_username(username) or data.users.create(username, PASSWORD)
    blog = Blog(author)
    images = {fmt: add_image(data, storage, author.id, fmt) for fmt in FORMATS}
    for i, title in enumerate(TITLES[:7]):
        fmt = list(FORMATS)[i % len(FORMATS)]
        body = f"{CODE_AND_TABLE}\n{images[fmt]}\n"
        if i == 0:
            body += "\n" + "\n".join(images.values()) + "\n"  # every format in one post
        post = data.posts.create(
            author.id,
            author.username,
            PostInput(title, body, ["emoji-🎉", "köln"] if i % 2 else ["python"], "published"),
        )
        blog.published.append(post)
        data.comments.add(post.id, author.id, "Léa ✍️", "Merci! <script>x</script>", False)
        data.comments.add(post.id, author.id, "Bob", "Waiting for approval", True)
    blog.renamed = data.posts.update(
        blog.published[1], PostInput("Renamed 🚀 title", "New body", ["köln"], "published")
    )
    blog.old_slug = blog.published[1].slug
    blog.published[1] = blog.renamed
    blog.drafts.append(
        data.posts.create(
            author.id, author.username, PostInput("Brouillon ✏️", images["PNG"], [], "draft")
        )
    )
    blog.scheduled.append(
        data.posts.create(
            author.id,
            author.username,
            PostInput("Next week 📅", "Soon.", ["python"], "scheduled", time.time() + 7 * 86400),
        )
    )
    return blog


def big_blog(data, posts: int = 8000):
    """Enough posts that a build takes seconds (written in the data model's shape by the
    benchmarks' fast loader); returns the author "alice"."""
    populate(data, Path("/nonexistent"), 0, posts, 0, random.Random(1))
    return data.users.by_username("alice")
