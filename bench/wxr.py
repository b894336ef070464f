"""A generated WordPress export (WXR 1.2) of any size, written as a stream: for the
import benchmark and the tests that need many posts."""

from __future__ import annotations

from typing import IO

HEAD = """<?xml version="1.0" encoding="UTF-8" ?>
<rss version="2.0" xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/"
 xmlns:content="http://purl.org/rss/1.0/modules/content/"
 xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wp="http://wordpress.org/export/1.2/">
<channel>
<title>Generated</title>
<wp:wxr_version>1.2</wp:wxr_version>
<wp:author><wp:author_login><![CDATA[gen]]></wp:author_login>
 <wp:author_display_name><![CDATA[Generated Author]]></wp:author_display_name></wp:author>
"""
TAIL = "</channel>\n</rss>\n"
PARAGRAPH = (
    "<p>Paragraph {n} of post {i}: <strong>Redis</strong> keeps the data, "
    '<em>RQ</em> does the slow work, and a <a href="https://example.org/{i}">link</a> '
    "leads elsewhere. Ünïcode ✓. Lorem ipsum dolor sit amet, consectetur adipiscing elit, "
    "sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>\n"
)


def _comment(i: int, c: int) -> str:
    return (
        f"<wp:comment><wp:comment_id>{i * 10 + c}</wp:comment_id>"
        f"<wp:comment_author><![CDATA[Reader {c}]]></wp:comment_author>"
        f"<wp:comment_date_gmt><![CDATA[2020-01-0{c + 1} 10:00:00]]></wp:comment_date_gmt>"
        f"<wp:comment_content><![CDATA[Comment {c} on post {i}: thanks!]]></wp:comment_content>"
        "<wp:comment_approved><![CDATA[1]]></wp:comment_approved>"
        "<wp:comment_type><![CDATA[comment]]></wp:comment_type></wp:comment>\n"
    )


def item(i: int, paragraphs: int = 8, comments: int = 3) -> str:
    body = "<!-- wp:paragraph -->\n".join(PARAGRAPH.format(n=n, i=i) for n in range(paragraphs))
    return (
        f"<item><title><![CDATA[Generated post {i}]]></title>"
        "<dc:creator><![CDATA[gen]]></dc:creator>"
        f'<guid isPermaLink="false">https://gen.example/?p={i}</guid>'
        f"<content:encoded><![CDATA[{body}]]></content:encoded>"
        f"<wp:post_id>{i}</wp:post_id>"
        f"<wp:post_date_gmt><![CDATA[2020-01-01 {i % 24:02d}:00:00]]></wp:post_date_gmt>"
        f"<wp:post_name><![CDATA[generated-post-{i}]]></wp:post_name>"
        "<wp:status><![CDATA[publish]]></wp:status><wp:post_type><![CDATA[post]]></wp:post_type>"
        f'<category domain="post_tag" nicename="t{i % 50}"><![CDATA[Tag {i % 50}]]></category>\n'
        + "".join(_comment(i, c) for c in range(comments))
        + "</item>\n"
    )


def write_wxr(out: IO[str], posts: int, paragraphs: int = 8, comments: int = 3) -> None:
    out.write(HEAD)
    for i in range(1, posts + 1):
        out.write(item(i, paragraphs, comments))
    out.write(TAIL)
