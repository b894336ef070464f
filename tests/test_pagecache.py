"""Listing pages cached per process for visitors, never stale after a write."""

from __future__ import annotations

import time

from blog.data import PostInput
from blog.pagecache import PageCache
from tests.helpers import add_post, count_round_trips, make_app


def counted_app(redis_url, media_root, **overrides):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), **overrides)
    return app, count_round_trips(app, redis_url)


def trips(client, counter, path: str) -> tuple[int, str]:
    counter.reset()
    response = client.get(path)
    assert response.status_code == 200
    return counter.round_trips, response.get_data(as_text=True)


def test_second_visit_is_served_from_the_cache(redis_url, redis_client, media_root):
    app, counter = counted_app(redis_url, media_root)
    author = app.extensions["blog_data"].users.create("alice", "long enough password")
    add_post(app.extensions["blog_data"], author, "First", tags=["redis"])
    client = app.test_client()
    for path in ("/", "/tags", "/tags/redis", "/feed.atom"):
        first, page = trips(client, counter, path)
        second, cached = trips(client, counter, path)
        assert cached == page
        assert second == 0 < first  # Redis says when the version changes: no read


def test_a_write_is_visible_on_the_next_request(redis_url, redis_client, media_root):
    app, counter = counted_app(redis_url, media_root)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "First")
    client = app.test_client()
    assert "First" in trips(client, counter, "/")[1]
    add_post(data, author, "Second")
    assert "Second" in trips(client, counter, "/")[1]
    data.comments.add(post.id, author.id, "Ann", "Nice", moderated=False)
    assert "1 comment" in trips(client, counter, "/")[1]
    data.posts.delete(data.posts.get(post.id))
    assert "First" not in trips(client, counter, "/")[1]


def test_scheduled_post_appears_on_time_without_a_write(redis_url, redis_client, media_root):
    app, counter = counted_app(redis_url, media_root, PAGE_CACHE_SECONDS=3600)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    add_post(data, author, "Now")
    due = time.time() + 1.5
    data.posts.create(
        author.id,
        author.username,
        PostInput(title="Later", body="x", tags=[], status="scheduled", publish_at=due),
    )
    client = app.test_client()
    assert "Later" not in trips(client, counter, "/")[1]
    assert trips(client, counter, "/")[0] == 0  # cached meanwhile
    time.sleep(max(0.0, due - time.time()) + 0.1)
    assert "Later" in trips(client, counter, "/")[1]


def test_authors_and_flashed_messages_are_never_cached(client, auth, data):
    auth.login()
    client.post("/posts/new", data={"title": "Mine", "body": "x", "status": "published"})
    page = client.get("/").get_data(as_text=True)
    assert "Log out alice" in page
    logout = client.post("/logout", follow_redirects=True).get_data(as_text=True)
    assert "You are logged out." in logout and "Log out alice" not in logout
    again = client.get("/").get_data(as_text=True)
    assert "You are logged out." not in again and "Log out alice" not in again


def test_visitors_get_no_cookie_on_listing_pages(client, auth):
    auth.create()
    for path in ("/", "/tags", "/feed.atom"):
        assert "Set-Cookie" not in client.get(path).headers


def test_cache_can_be_switched_off(redis_url, redis_client, media_root):
    app, counter = counted_app(redis_url, media_root, PAGE_CACHE_SECONDS=0, HTTP_CACHE_SECONDS=0)
    client = app.test_client()
    assert trips(client, counter, "/")[0] == trips(client, counter, "/")[0] == 1  # empty blog
    assert "page_cache" not in app.extensions


def test_the_cache_holds_at_most_its_bytes_least_recently_used_first():
    cache = PageCache(seconds=60, max_bytes=100)
    for key in ("a", "b"):
        cache.put(key, "t1", [], b"x" * 40)
    assert cache.get("a", "t1") is not None  # "b" is now the least recently used
    cache.put("c", "t1", [], b"y" * 40)
    assert cache.get("b", "t1") is None and cache.get("a", "t1") and cache.get("c", "t1")
    cache.put("a", "t1", [], b"z" * 50)  # replacing counts the new size only
    assert cache.size == 90
    cache.put("huge", "t1", [], b"h" * 101)  # larger than the cache: not kept
    assert cache.get("huge", "t1") is None and cache.size == 90
    assert cache.get("a", "t2") is None  # another content state: not served


def test_a_hit_is_answered_before_flask_with_the_apps_headers(redis_url, redis_client, media_root):
    app, counter = counted_app(redis_url, media_root)
    data = app.extensions["blog_data"]
    add_post(data, data.users.create("alice", "long enough password"), "First")
    requests_seen = []
    app.before_request(lambda: requests_seen.append(1))
    client = app.test_client()
    first = client.get("/posts/first")
    hit = client.get("/posts/first")
    assert len(requests_seen) == 1  # the second never reached Flask
    assert hit.get_data() == first.get_data()
    for header in ("Content-Security-Policy", "X-Frame-Options", "ETag", "Cache-Control"):
        assert hit.headers[header] == first.headers[header], header
    assert (
        client.get("/posts/first", headers={"If-None-Match": hit.headers["ETag"]}).status_code
        == 304
    )
    assert client.head("/posts/first").get_data() == b""
    # Anyone with a session cookie goes through the app.
    client.set_cookie("session", "anything")
    client.get("/posts/first")
    assert len(requests_seen) == 2


def test_query_arguments_no_page_reads_are_left_out_of_the_key(redis_url, redis_client, media_root):
    """A shared link's tracking arguments (utm_source, fbclid) change nothing on the
    page: such a visit is a hit. The arguments pages read (page, comment) stay in the
    key, and so does the whole query when a name is %-escaped (werkzeug decodes it)."""
    app, counter = counted_app(redis_url, media_root)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    for i in range(12):
        add_post(data, author, f"Post {i:02d}")
    client = app.test_client()
    post = "/posts/post-11"
    page = trips(client, counter, post)[1]
    assert trips(client, counter, post + "?utm_source=feed&fbclid=x") == (0, page)
    thanks = trips(client, counter, post + "?comment=thanks")[1]
    assert "Thank you for your comment." in thanks and thanks != page
    assert trips(client, counter, post + "?x=1&comment=thanks")[1] == thanks
    older = trips(client, counter, "/?utm_medium=mail&page=2")[1]
    assert "Post 00" in older and "Post 11" not in older
    assert trips(client, counter, "/?page=2") == (0, older)
    # Stored under its whole query, never under "/": the home page stays page 1.
    assert "Post 00" in trips(client, counter, "/?p%61ge=2")[1]
    home = trips(client, counter, "/")[1]
    assert "Post 11" in home and "Post 00" not in home
