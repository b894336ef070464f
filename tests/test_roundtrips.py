"""Pages and searches cost a fixed number of Redis round trips, however many posts
there are."""

from __future__ import annotations

import redis
from rq import Queue

from blog.data import DataLayer
from blog.data.search import SMALL_SET
from blog.search import service
from devtools.roundtrips import RoundTripCounter
from tests.helpers import (
    add_post,
    cheap_password_hashing,
    commands_sent,
    count_round_trips,
    make_app,
    new_post,
)

LIMITS = {
    "/": 1,
    "/tags/common": 1,
    "/posts/{slug}": 1,
    "/tags": 2,
    "/feed.atom": 2,
    "/tags/common/feed.atom": 2,
    "/sitemap.xml": 2,
    "/dashboard": 2,
}
# The pages are read logged in (no page cache): an author's request first checks that
# the session was not revoked (a password change or reset ends the others), one read.
AUTHOR_SESSION_CHECK = 1


def seed(data, count: int):
    author = data.users.create("alice", "password123")
    posts = []
    for i in range(count):
        post = add_post(
            data,
            author,
            f"Post {i}",
            body=f"Body *{i}* " * 20,
            tags=["common", f"tag{i}", f"group{i % 3}"],
        )
        for j in range(i % 3 + 1):
            data.comments.add(post.id, author.id, f"Reader {j}", "Nice", moderated=False)
        posts.append(post)
    add_post(data, author, "Draft", tags=["hidden"], status="draft")
    return posts


def measure(redis_url, count: int, monkeypatch, tmp_path) -> dict[str, int]:
    cheap_password_hashing(monkeypatch)
    app = make_app(redis_url, MEDIA_ROOT=str(tmp_path))
    data = app.extensions["blog_data"]
    data.redis.flushall()
    posts = seed(data, count)
    counter = count_round_trips(app, redis_url)
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": "password123"})
    counted = {}
    for path in LIMITS:
        url = path.format(slug=posts[-1].slug)  # the newest post, with comments
        assert client.get(url).status_code == 200, url  # warms the connection up
        counter.reset()
        assert client.get(url).status_code == 200, url
        counted[path] = counter.round_trips
    counter.client.close()
    return counted


def test_pages_cost_a_fixed_number_of_round_trips(redis_url, redis_client, monkeypatch, tmp_path):
    counts = {n: measure(redis_url, n, monkeypatch, tmp_path) for n in (5, 50)}
    for n, counted in counts.items():
        for path, limit in LIMITS.items():
            assert 1 <= counted[path] <= limit + AUTHOR_SESSION_CHECK, (n, path, counted[path])
    assert counts[5] == counts[50]  # the same, not merely within the limit


def visitor_app(redis_url, tmp_path, monkeypatch, **overrides):
    cheap_password_hashing(monkeypatch)
    app = make_app(redis_url, MEDIA_ROOT=str(tmp_path), **overrides)
    data = app.extensions["blog_data"]
    data.redis.flushall()
    posts = seed(data, 5)
    counter = count_round_trips(app, redis_url)
    return app, counter, posts[-1]


def counted_get(client, counter, url: str) -> tuple[int, str]:
    counter.reset()
    response = client.get(url)
    assert response.status_code == 200, url
    return counter.round_trips, response.get_data(as_text=True)


def assert_whole_post_page(page: str, post, redis_url: str) -> None:
    """What the round trip must have fetched: the post, its tags, its comments."""
    data = DataLayer(redis.Redis.from_url(redis_url, decode_responses=True), "blog:")
    comments = data.comments.for_post(post.id)
    assert f"<h1>{post.title}</h1>" in page
    assert post.tags and all(f"#{tag}" in page for tag in post.tags)
    assert len(comments) >= 2 and page.count('class="comment"') == len(comments)
    assert all(f"<strong>{c.name}</strong>" in page for c in comments)
    older = data.posts.page(1, 2).items[1]  # the newest post's previous one
    assert "Previous post" in page and older.title in page


def test_a_visitors_post_page_is_one_round_trip(redis_url, redis_client, monkeypatch, tmp_path):
    app, counter, post = visitor_app(
        redis_url, tmp_path, monkeypatch, PAGE_CACHE_SECONDS=0, HTTP_CACHE_SECONDS=0
    )
    client = app.test_client()
    url = f"/posts/{post.slug}"
    counted_get(client, counter, url)  # connects and loads the script
    trips, page = counted_get(client, counter, url)
    assert trips == 1 and counter.commands == 1  # one EVALSHA
    assert_whole_post_page(page, post, redis_url)


def test_pages_load_their_scripts_again_after_redis_lost_them(
    redis_url, redis_client, monkeypatch, tmp_path
):
    """A restarted or failed-over Redis has no scripts: the first read after it loads the
    page's script again (NOSCRIPT, SCRIPT LOAD, EVALSHA), the next is one EVALSHA again."""
    app, counter, post = visitor_app(
        redis_url, tmp_path, monkeypatch, PAGE_CACHE_SECONDS=0, HTTP_CACHE_SECONDS=0
    )
    client = app.test_client()
    for url in (f"/posts/{post.slug}", "/"):
        counted_get(client, counter, url)
        redis_client.script_flush()
        trips, page = counted_get(client, counter, url)
        assert trips == 3 and post.title in page
        assert counted_get(client, counter, url)[0] == 1
    assert_whole_post_page(counted_get(client, counter, f"/posts/{post.slug}")[1], post, redis_url)


def test_a_cached_post_page_costs_no_round_trip(redis_url, redis_client, monkeypatch, tmp_path):
    app, counter, post = visitor_app(redis_url, tmp_path, monkeypatch, PAGE_CACHE_SECONDS=3600)
    client = app.test_client()
    url = f"/posts/{post.slug}"
    counted_get(client, counter, url)  # connects, starts tracking, loads the script
    trips, page = counted_get(client, counter, url)
    assert trips == 0
    assert_whole_post_page(page, post, redis_url)
    # A write elsewhere: the next visit reads the state (1) and the page (1) again.
    app.extensions["blog_data"].comments.add(post.id, 1, "Late", "New", moderated=False)
    trips, page = counted_get(client, counter, url)
    assert trips == 2 and "Late" in page
    assert counted_get(client, counter, url)[0] == 0


def test_the_counter_counts_a_pipeline_as_one(redis_url, redis_client):
    counter = RoundTripCounter(redis_url)
    counter.client.ping()
    counter.reset()
    pipe = counter.client.pipeline(transaction=False)
    for i in range(10):
        pipe.set(f"k{i}", i)
    pipe.execute()
    counter.client.get("k1")
    assert counter.round_trips == 2
    assert counter.commands == 11
    counter.client.close()


def test_a_search_costs_at_most_three_round_trips(redis_url, redis_client, monkeypatch, tmp_path):
    """Both query plans (docs/search.md): the full one, and top-k when every term is in
    more posts than `small_set`."""
    cheap_password_hashing(monkeypatch)
    counts = {}
    for size in (5, 60):
        redis_client.flushall()
        app = make_app(redis_url, MEDIA_ROOT=str(tmp_path))
        data = app.extensions["blog_data"]
        author = data.users.create("alice", "password123")
        for i in range(size):
            add_post(data, author, f"Post {i}", body=f"common words and unique{i}",
                     tags=["common"])  # fmt: skip
        service.reindex(data)
        counter = count_round_trips(app, redis_url)
        counted = app.extensions["blog_data"]
        client = app.test_client()
        for plan in (SMALL_SET, 0):
            counted.search.small_set = plan
            for url in ("/search?q=common+words", '/search?q="common+words"+-unique3+tag:common',
                        "/search?q=common+tag:common", "/search?q=tag:common",
                        "/search/suggest?q=pos"):  # fmt: skip
                assert client.get(url).status_code == 200, url  # warms the connection up
                counter.reset()
                assert "Post" in client.get(url).get_data(as_text=True), url
                counts[size, plan, url] = counter.round_trips
        counter.client.close()
    assert max(counts.values()) <= 3, counts
    assert {k[1:]: c for k, c in counts.items() if k[0] == 5} == {
        k[1:]: c for k, c in counts.items() if k[0] == 60
    }


def test_creating_a_post_through_the_form_is_two_or_three_round_trips(
    redis_url, redis_client, monkeypatch, tmp_path
):
    """The create of bench/load.py, counting every Redis client of the process (the data
    layer's and RQ's): the session check, the save (SAVE_SCRIPT: id, slug, tags, indexes,
    content version and the post's id in the search's pending set in one script) and,
    only when no search drain job is waiting, that job (RQ's writes in one MULTI/EXEC)."""
    cheap_password_hashing(monkeypatch)
    app = make_app(redis_url, MEDIA_ROOT=str(tmp_path))
    app.extensions["blog_data"].users.create("alice", "password123")
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": "password123"})
    assert new_post(client, "Warm up", tags="a").status_code == 302  # connects, loads scripts
    queue = Queue("search", connection=app.extensions["rq_connection"])
    assert queue.count == 1

    def counted_create(title: str) -> list[str]:
        with commands_sent(monkeypatch) as sent:
            response = new_post(client, title, body="Some *text*", tags="a, b")
        assert response.status_code == 302
        return sent

    # A drain job is waiting (the warm-up's): the create only joins the pending set.
    assert counted_create("Counted") == ["ZSCORE", "EVALSHA"]
    assert queue.count == 1
    # No drain waiting (it started, so it cleared the flag): this create enqueues one.
    redis_client.delete("blog:search:queued")
    assert counted_create("Counted again") == ["ZSCORE", "EVALSHA", "MULTI"]
    assert queue.count == 2
    assert redis_client.scard("blog:search:pending") == 3
