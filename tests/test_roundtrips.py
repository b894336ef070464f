"""Pages and searches cost a fixed number of Redis round trips, however many posts
there are."""

from __future__ import annotations

from blog.data import DataLayer
from blog.data.search import SMALL_SET
from blog.search import service
from devtools.roundtrips import RoundTripCounter
from tests.helpers import add_post, cheap_password_hashing, make_app

LIMITS = {
    "/": 2,
    "/tags/common": 2,
    "/posts/{slug}": 3,
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
    counter = RoundTripCounter(redis_url)
    app.extensions["blog_data"] = DataLayer(counter.client, app.config["KEY_PREFIX"])
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
        counter = RoundTripCounter(redis_url)
        counted = DataLayer(counter.client, app.config["KEY_PREFIX"])
        app.extensions["blog_data"] = counted
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
