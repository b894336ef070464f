"""HTTP caching for visitors and feed readers: validators, 304, what a CDN may keep."""

from __future__ import annotations

import time

import pytest

from blog.data import PostInput
from tests.conftest import make_app
from tests.helpers import add_post

VISITOR_PAGES = ["/", "/tags", "/tags/redis", "/posts/first", "/feed.atom", "/sitemap.xml"]


@pytest.fixture
def blog(redis_url, redis_client, media_root):
    app = make_app(
        redis_url, MEDIA_ROOT=str(media_root), HTTP_CACHE_SECONDS=30, HTTP_STALE_SECONDS=120
    )
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "First", tags=["redis"])
    return app, data, author, post


@pytest.mark.parametrize("path", VISITOR_PAGES)
def test_visitor_pages_carry_validators_and_answer_304(blog, path):
    app, *_ = blog
    client = app.test_client()
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == (
        "public, max-age=0, s-maxage=30, stale-while-revalidate=120"
    )
    assert "Cookie" in response.headers["Vary"]
    assert "Set-Cookie" not in response.headers
    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    assert client.get(path, headers={"If-Modified-Since": modified}).status_code == 304


def test_a_write_changes_the_validators(blog):
    app, data, author, post = blog
    client = app.test_client()
    first = client.get("/posts/first")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    time.sleep(1.1)  # Last-Modified has whole seconds
    data.comments.add(post.id, author.id, "Ann", "Fresh", moderated=False)
    response = client.get("/posts/first", headers={"If-None-Match": etag})
    assert response.status_code == 200 and "Fresh" in response.get_data(as_text=True)
    assert response.headers["ETag"] != etag
    assert client.get("/", headers={"If-Modified-Since": modified}).status_code == 200


def test_a_scheduled_post_changes_the_validators_when_it_appears(blog):
    app, data, author, _ = blog
    due = time.time() + 1.5
    data.posts.create(
        author.id,
        author.username,
        PostInput(title="Later", body="x", tags=[], status="scheduled", publish_at=due),
    )
    client = app.test_client()
    etag = client.get("/").headers["ETag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304
    time.sleep(max(0.0, due - time.time()) + 0.1)
    response = client.get("/", headers={"If-None-Match": etag})
    assert response.status_code == 200 and "Later" in response.get_data(as_text=True)


def test_authors_pages_are_never_stored(blog):
    app, *_ = blog
    client = app.test_client()
    etag = client.get("/").headers["ETag"]
    client.post("/login", data={"username": "alice", "password": "long enough password"})
    for path in [*VISITOR_PAGES, "/dashboard", "/posts/new"]:
        response = client.get(path, headers={"If-None-Match": etag})
        assert response.status_code == 200, path  # never a visitor's 304
        assert response.headers["Cache-Control"] == "private, no-store", path
        assert "ETag" not in response.headers, path


def test_a_page_that_starts_a_session_is_never_stored(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), WTF_CSRF_ENABLED=True)
    login = app.test_client().get("/login")  # its form starts a session for the CSRF token
    assert "Set-Cookie" in login.headers
    assert login.headers["Cache-Control"] == "private, no-store"


def test_pages_with_a_flash_are_never_stored(blog):
    app, *_ = blog
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": "long enough password"})
    client.post("/logout")  # flashes "You are logged out." to a visitor
    response = client.get("/")
    assert "You are logged out." in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "ETag" not in response.headers
    assert client.get("/").headers["Cache-Control"].startswith("public")  # flash shown


def test_errors_and_redirects_are_not_marked_shareable(blog):
    app, data, author, post = blog
    client = app.test_client()
    assert "public" not in client.get("/posts/no-such-post").headers.get("Cache-Control", "")
    data.posts.update(post, PostInput(title="Renamed", body="", tags=[], status="published"))
    moved = client.get("/posts/first")
    assert moved.status_code == 301 and "ETag" not in moved.headers


def test_http_caching_can_be_switched_off(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), HTTP_CACHE_SECONDS=0)
    response = app.test_client().get("/")
    assert "ETag" not in response.headers and "Cache-Control" not in response.headers
