"""Reading: home and its pages, tags, Atom feeds and the sitemap."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote

import feedparser
import pytest

from tests.helpers import add_post, assert_site_layout, cheap_password_hashing, listed_titles

SITEMAP_NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def author(data):
    return data.users.create("alice", "correct horse battery")


def add_numbered(data, author, count, tags=(), prefix="Post"):
    """Posts "Post 1" .. "Post N", oldest first (each a little newer than the last)."""
    return [
        add_post(data, author, f"{prefix} {i}", body=f"Body of *{prefix.lower()} {i}*", tags=tags)
        for i in range(1, count + 1)
    ]


def pager_links(page: str) -> dict[str, str]:
    return dict(re.findall(r'<a rel="(prev|next)" href="([^"]+)"', page.replace("&amp;", "&")))


def test_empty_blog(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Nothing published yet" in response.get_data(as_text=True)
    assert pager_links(response.get_data(as_text=True)) == {}
    assert client.get("/?page=2").status_code == 404
    assert "No tags yet" in client.get("/tags").get_data(as_text=True)


def test_home_lists_published_newest_first_ten_a_page(client, data, author):
    add_numbered(data, author, 23)
    add_post(data, author, "A draft", status="draft")
    pages = {n: client.get(f"/?page={n}") for n in (1, 2, 3)}
    assert all(r.status_code == 200 for r in pages.values())
    html = {n: r.get_data(as_text=True) for n, r in pages.items()}
    assert listed_titles(html[1]) == [f"Post {i}" for i in range(23, 13, -1)]
    assert listed_titles(html[2]) == [f"Post {i}" for i in range(13, 3, -1)]
    assert listed_titles(html[3]) == ["Post 3", "Post 2", "Post 1"]
    assert listed_titles(client.get("/").get_data(as_text=True)) == listed_titles(html[1])

    assert pager_links(html[1]) == {"next": "/?page=2"}
    assert pager_links(html[2]) == {"prev": "/?page=1", "next": "/?page=3"}
    assert pager_links(html[3]) == {"prev": "/?page=2"}
    assert "Older posts" in html[1]
    assert "Newer posts" in html[3]
    assert "A draft" not in "".join(html.values())


def test_exactly_one_full_page_has_no_older_link(client, data, author):
    add_numbered(data, author, 10)
    assert pager_links(client.get("/").get_data(as_text=True)) == {}
    assert client.get("/?page=2").status_code == 404


@pytest.mark.parametrize(
    "page",
    [
        "0",
        "-1",
        "abc",
        "99999999999",
        "4",
        "1.5",
        "",
        " 1",
        "1e3",
        "²",
        "٣",
        "0x1",
        "10001",
        "1" * 5000,
    ],
)
def test_bad_page_numbers_are_404_never_500(client, data, author, page):
    add_numbered(data, author, 23)
    response = client.get("/", query_string={"page": page})
    assert response.status_code == 404
    assert_site_layout(response.get_data(as_text=True))
    add_post(data, author, "Tagged", tags=["t"])
    assert client.get("/tags/t", query_string={"page": page}).status_code == 404


def test_post_page_renders_sanitized_markdown(client, data, author):
    body = (
        "## Section\n\n- one\n- two\n\n```python\nprint('<hi>')\n```\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "[ok](https://example.com) [bad](javascript:alert(1))\n\n"
        "<script>alert('x')</script><iframe src=https://evil.example></iframe>"
    )
    post = add_post(data, author, "Markdown", body=body)
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "<h2>Section</h2>" in page
    assert "<li>one</li>" in page
    assert (
        '<code class="language-python">print(&#39;&lt;hi&gt;&#39;)' in page
        or "<code class=\"language-python\">print('&lt;hi&gt;')" in page
    )
    assert "<td>1</td>" in page
    assert '<a href="https://example.com" rel="noopener noreferrer">ok</a>' in page
    assert "javascript:" not in page
    assert "<script>alert" not in page
    assert "<iframe" not in page


def test_post_page_reads_what_it_shows_and_not_the_markdown(client, data, author, redis_client):
    """POST_PAGE_SCRIPT fetches the fields the page shows, not the Markdown source (as
    long as the HTML); a post stored before covers and reading times still renders."""
    post = add_post(data, author, "Fields", body="Some *marked* text " * 50, tags=["t"])
    redis_client.hdel(f"blog:post:{post.id}", "cover", "reading_minutes")
    shown, _, _ = data.post_page(post.slug)
    assert shown.body == "" and shown.html == post.html
    assert (shown.cover, shown.reading_minutes) == (None, 0)
    assert (shown.title, shown.tags, shown.published_at) == (post.title, ["t"], post.published_at)
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "<em>marked</em>" in page and "min read" not in page
    assert data.post_page("no-such-post") == (None, [], (None, None))


def test_unknown_post_is_404(client):
    response = client.get("/posts/nope")
    assert response.status_code == 404
    assert_site_layout(response.get_data(as_text=True))


def test_tags_page_counts_visible_posts_and_hides_draft_only_tags(client, data, author):
    add_post(data, author, "One", tags=["python", "redis"])
    add_post(data, author, "Two", tags=["python"])
    add_post(data, author, "Three", tags=["python", "redis"])
    add_post(data, author, "Hidden", tags=["secret", "python"], status="draft")
    add_post(
        data, author, "Later", tags=["future"], status="scheduled", publish_at=4102444800.0
    )  # 2100
    page = client.get("/tags").get_data(as_text=True)
    assert '<a href="/tags/python">#python</a> <span class="count">3 posts</span>' in page
    assert '<a href="/tags/redis">#redis</a> <span class="count">2 posts</span>' in page
    assert page.index("#python") < page.index("#redis")  # most used first
    assert "secret" not in page
    assert "future" not in page


def test_tag_page_is_paginated(client, data, author):
    add_numbered(data, author, 12, tags=["python"])
    add_post(data, author, "Untagged")
    first = client.get("/tags/python").get_data(as_text=True)
    assert listed_titles(first) == [f"Post {i}" for i in range(12, 2, -1)]
    assert "Posts tagged #python" in first
    assert pager_links(first) == {"next": "/tags/python?page=2"}
    second = client.get("/tags/python?page=2").get_data(as_text=True)
    assert listed_titles(second) == ["Post 2", "Post 1"]
    assert pager_links(second) == {"prev": "/tags/python?page=1"}
    assert client.get("/tags/python?page=3").status_code == 404
    assert 'href="/tags/python/feed.atom"' in first


def test_unknown_and_draft_only_tags_are_404(client, data, author):
    add_post(data, author, "Draft", tags=["hidden"], status="draft")
    assert client.get("/tags/nothing").status_code == 404
    assert client.get("/tags/hidden").status_code == 404
    assert client.get("/tags/hidden/feed.atom").status_code == 404
    assert client.get("/tags/nothing/feed.atom").status_code == 404


def test_unicode_tag_pages(client, data, author):
    add_post(data, author, "Köln", tags=["köln"])
    assert f'href="/tags/{quote("köln")}"' in client.get("/tags").get_data(as_text=True)
    assert "Köln" in client.get("/tags/" + quote("köln")).get_data(as_text=True)


def test_feed_is_valid_atom_of_the_20_newest(client, data, author):
    posts = add_numbered(data, author, 25, tags=["python"])
    add_post(data, author, "Draft post", status="draft")
    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert len(feed.entries) == 20
    assert [e.title for e in feed.entries] == [f"Post {i}" for i in range(25, 5, -1)]
    newest = feed.entries[0]
    assert newest.link == f"http://localhost/posts/{posts[-1].slug}"
    assert newest.id == newest.link
    assert newest.author == "alice"
    assert "<em>post 25</em>" in newest.content[0].value
    assert [t.term for t in newest.tags] == ["python"]
    assert newest.published_parsed is not None and newest.updated_parsed is not None
    published = [e.published_parsed for e in feed.entries]
    assert published == sorted(published, reverse=True)
    assert feed.feed.links[0].href == "http://localhost/"
    assert "Draft post" not in response.get_data(as_text=True)


def test_feed_escapes_titles_and_html(client, data, author):
    add_post(
        data, author, 'Fish & Chips <3 "quoted"', body="a<br>b &nbsp; <em>c</em>", tags=["food"]
    )
    for url in ["/feed.atom", "/tags/food/feed.atom"]:
        feed = feedparser.parse(client.get(url).data)
        assert feed.bozo == 0, (url, feed.get("bozo_exception"))
        assert feed.entries[0].title == 'Fish & Chips <3 "quoted"'
        assert "<em>c</em>" in feed.entries[0].content[0].value
        ET.fromstring(client.get(url).data)  # well-formed XML, not just tolerated


def test_empty_feed_is_valid(client):
    feed = feedparser.parse(client.get("/feed.atom").data)
    assert feed.bozo == 0
    assert feed.entries == []


def test_tag_feed_holds_only_that_tag(client, data, author):
    add_numbered(data, author, 3, tags=["python"])
    add_numbered(data, author, 2, tags=["redis"], prefix="Redis")
    response = client.get("/tags/python/feed.atom")
    feed = feedparser.parse(response.data)
    assert feed.bozo == 0
    assert [e.title for e in feed.entries] == ["Post 3", "Post 2", "Post 1"]
    assert "#python" in feed.feed.title
    assert feed.feed.links[0].href == "http://localhost/tags/python"


def test_sitemap_lists_visible_posts_only(client, data, author):
    public = add_numbered(data, author, 3)
    uni = add_post(data, author, "Grüße aus Köln")
    draft = add_post(data, author, "Draft", status="draft")
    later = add_post(data, author, "Later", status="scheduled", publish_at=4102444800.0)
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == "{http://www.sitemaps.org/schemas/sitemap/0.9}urlset"
    locs = [loc.text for loc in root.findall("s:url/s:loc", SITEMAP_NS)]
    expected = {f"http://localhost/posts/{quote(p.slug)}" for p in [*public, uni]}
    assert expected <= set(locs)
    assert "http://localhost/" in locs
    for hidden in (draft, later):
        assert f"http://localhost/posts/{quote(hidden.slug)}" not in locs
    lastmods = [m.text for m in root.findall("s:url/s:lastmod", SITEMAP_NS)]
    assert len(lastmods) == 4
    assert all(len(m) == 10 and m[4] == "-" for m in lastmods)


def test_comment_count_in_listing(client, data, author):
    post = add_post(data, author, "Discussed")
    for i in range(2):
        data.comments.add(post.id, author.id, f"Reader {i}", "Hi", moderated=False)
    assert "2 comments" in client.get("/").get_data(as_text=True)
