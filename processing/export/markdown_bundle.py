"""The Markdown site bundle: a Hugo site whose posts are page bundles.

    hugo.toml, layouts/...                 a minimal site: `hugo` builds the zip as is
    content/posts/<slug>/index.md          YAML front matter + the Markdown body
    content/posts/<slug>/<image>.<ext>     the post's images, links rewritten to them
    content/posts/<slug>/comments.json     its comments (approved and pending)

The front matter uses the keys Hugo, Jekyll and Eleventy all read (`title`, `date`,
`tags`, `draft`), plus Hugo's `lastmod`, `slug` and `aliases` (old URLs, which Hugo
turns into redirect pages).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from processing.archive.format import Writable

from .common import ExportImage, ExportPost, OpenMedia, Progress, iso_utc, rewrite_media_links
from .zipstream import ZipWriter

# Hugo's own templates are not in the binary: two tiny layouts make every page and
# publish the images its posts show (the default image render hook resolves
# `![](photo.jpg)` to the page bundle's file).
SINGLE_LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><article><h1>{{ .Title }}</h1>
<p><time>{{ .Date.Format "2 January 2006" }}</time></p>
{{ .Content }}
{{ range .Resources.ByType "image" }}{{ .Publish }}{{ end }}
</article></body></html>
"""
LIST_LAYOUT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ .Title }}</title></head>
<body><h1>{{ .Title }}</h1>
<ul>{{ range .Pages }}<li><a href="{{ .RelPermalink }}">{{ .Title }}</a></li>{{ end }}</ul>
</body></html>
"""
README = """This is a Hugo site exported from {title}.

Build it with `hugo` (https://gohugo.io) in this directory; the site goes to public/.
Each post is a page bundle under content/posts/<slug>/: index.md (YAML front matter,
then the Markdown), its images beside it, and comments.json with its comments.
Drafts and scheduled posts have `draft: true`; `hugo --buildDrafts` shows them.
"""


@dataclass(frozen=True)
class SiteInfo:
    title: str


def _yaml_str(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are YAML, but YAML 1.1 readers also
    break lines at U+0085, U+2028 and U+2029)."""
    quoted = json.dumps(text, ensure_ascii=False)
    return quoted.replace("\u0085", "\\N").replace("\u2028", "\\L").replace("\u2029", "\\P")


def _yaml_list(items: Iterable[str]) -> str:
    return "[" + ", ".join(_yaml_str(item) for item in items) + "]"


def front_matter(post: ExportPost) -> str:
    lines = [
        "---",
        f"title: {_yaml_str(post.title)}",
        f"date: {iso_utc(post.date)}",
        f"lastmod: {iso_utc(post.updated_at)}",
        f"tags: {_yaml_list(post.tags)}",
        f"draft: {'false' if post.status == 'published' else 'true'}",
        f"slug: {_yaml_str(post.slug)}",
        f"aliases: {_yaml_list(f'/posts/{old}' for old in post.old_slugs)}",
        f"author: {_yaml_str(post.author)}",
        "---",
        "",
    ]
    return "\n".join(lines)


def post_markdown(post: ExportPost, images: dict[str, ExportImage]) -> str:
    return front_matter(post) + rewrite_media_links(post.body, images) + "\n"


def comments_json(post: ExportPost) -> bytes:
    comments = [
        {
            "id": c.id,
            "name": c.name,
            "body": c.body,
            "date": iso_utc(c.created_at),
            "status": c.status,
        }
        for c in post.comments
    ]
    return (json.dumps(comments, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _site_config(site: SiteInfo) -> bytes:
    title = json.dumps(site.title, ensure_ascii=False)
    return (
        f'baseURL = "/"\ntitle = {title}\n\n'
        "[markup.goldmark.renderer]\nunsafe = true  # posts may hold sanitized HTML\n\n"
        '[markup.goldmark.renderHooks.image]\nuseEmbedded = "fallback"\n\n'
        "# comments.json holds pending comments too: only images get published.\n"
        "[[cascade]]\n[cascade.build]\npublishResources = false\n"
    ).encode()


def write_markdown_bundle(
    out: Writable,
    posts: Iterable[ExportPost],
    open_media: OpenMedia,
    site: SiteInfo,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write the bundle to `out` post by post; returns counts and the archive size."""
    archive = ZipWriter(out)
    try:
        archive.add_bytes("hugo.toml", _site_config(site))
        archive.add_bytes("README.txt", README.format(title=site.title).encode("utf-8"))
        archive.add_bytes("layouts/_default/single.html", SINGLE_LAYOUT.encode("utf-8"))
        archive.add_bytes("layouts/_default/list.html", LIST_LAYOUT.encode("utf-8"))
        counts = {"posts": 0, "images": 0, "comments": 0}
        for post in posts:
            base = f"content/posts/{post.slug}/"
            written = {}
            for image_id, image in post.images.items():
                source = open_media(image.media_key)
                if source is None:  # its file is gone: the link stays as it was
                    continue
                with source:
                    archive.add_stream(base + image.filename, source)
                written[image_id] = image
            counts["images"] += len(written)
            archive.add_bytes(base + "index.md", post_markdown(post, written).encode("utf-8"))
            archive.add_bytes(base + "comments.json", comments_json(post))
            counts["posts"] += 1
            counts["comments"] += len(post.comments)
            if progress:
                progress(counts["posts"])
        counts["bytes"] = archive.close()
    except BaseException:
        archive.abort()
        raise
    return counts
