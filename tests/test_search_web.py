"""The search page, suggestions, the header box, `flask search reindex`, the indexing job
in a real worker, and the Redis round trips of a search."""

from __future__ import annotations

import re
import statistics
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from blog.search import service
from blog.security import CSP
from processing.search import query as query_module
from tests.helpers import ROOT, RQ, add_post, new_post

SEARCH_BOX = re.compile(
    r'<form class="search" role="search" method="get" action="/search">\s*'
    r'<input type="search" name="q" aria-label="Search posts"'
)


@pytest.fixture
def alice(data):
    return data.users.create("alice", "password123")


def indexed(data, author, title, body="", tags=(), **kw):
    post = add_post(data, author, title, body=body, tags=tags, **kw)
    service.index_post(data, post.id)
    return post


def test_every_page_has_the_search_box(client, data, alice):
    post = indexed(data, alice, "Hello", tags=["greetings"])
    for url in ("/", "/tags", "/tags/greetings", f"/posts/{post.slug}", "/login", "/search",
                "/search?q=hello", "/no-such-page"):  # fmt: skip
        page = client.get(url).get_data(as_text=True)
        assert SEARCH_BOX.search(page), url
        assert '<button type="submit">Search</button>' in page
        assert '<script src="/static/search.js" defer></script>' in page


def test_results_are_ranked_highlighted_and_escaped(client, data, alice):
    indexed(data, alice, "Redis <b>tips</b>", "Use `<script>` tags carefully with redis.")
    indexed(data, alice, "Other", "A note mentioning redis once among many other words.")
    response = client.get("/search?q=redis")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].startswith(CSP.split("{")[0])
    assert "2 posts match <strong>redis</strong>" in page
    assert page.index("tips") < page.index("Other")  # the title match first
    assert "<mark>Redis</mark> &lt;b&gt;tips&lt;/b&gt;" in page
    assert "&lt;script&gt; tags carefully with <mark>redis</mark>" in page
    assert "<script>" not in page and "<b>tips" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline script


def test_the_query_is_echoed_escaped(client, data, alice):
    page = client.get('/search?q="><script>alert(1)</script>').get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in page


def test_ten_a_page_with_links_between_pages(client, data, alice):
    for i in range(23):
        indexed(data, alice, f"Puffin {i:02d}", "puffins")
    first = client.get("/search?q=puffin").get_data(as_text=True)
    assert first.count('class="summary search-hit"') == 10
    assert "23 posts match" in first
    assert 'href="/search?q=puffin&amp;page=2"' in first and 'rel="prev"' not in first
    third = client.get("/search?q=puffin&page=3").get_data(as_text=True)
    assert third.count('class="summary search-hit"') == 3 and 'rel="next"' not in third
    assert "(page 3)" in third
    assert client.get("/search?q=puffin&page=4").status_code == 404
    assert client.get("/search?q=puffin&page=x").status_code == 404


@pytest.mark.parametrize(
    ("q", "status", "message"),
    [
        ("", 200, query_module.EMPTY),
        ("x" * 201, 400, query_module.TOO_LONG),
        ("?!#$%", 200, query_module.NOTHING),
        ("the and of", 200, query_module.NOTHING),
        ("-redis", 200, query_module.ONLY_EXCLUDED),
        (" ".join(f"w{i}" for i in range(20)), 200, query_module.TOO_MANY),
    ],
)
def test_queries_that_cannot_run_get_a_clear_message(client, q, status, message):
    response = client.get("/search", query_string={"q": q})
    assert response.status_code == status
    assert str(escape(message)) in response.get_data(as_text=True)


def test_no_match_says_so(client, data, alice):
    indexed(data, alice, "Hello")
    page = client.get("/search?q=zeppelin").get_data(as_text=True)
    assert "No posts match <strong>zeppelin</strong>" in page


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=260))
def test_no_query_is_a_server_error(client, q):
    q = q.replace("\x00", "")
    assert client.get("/search", query_string={"q": q}).status_code in (200, 400)
    assert client.get("/search/suggest", query_string={"q": q}).status_code in (200, 400)


def test_suggest_answers_json(client, data, alice):
    indexed(data, alice, "Learning Redis Streams", tags=["redis"])
    indexed(data, alice, "Draft redis", status="draft")
    body = client.get("/search/suggest?q=Red").get_json()
    assert body == {
        "query": "Red",
        "suggestions": [
            {"kind": "tag", "label": "#redis", "url": "/tags/redis"},
            {
                "kind": "post",
                "label": "Learning Redis Streams",
                "url": "/posts/learning-redis-streams",
            },
        ],
    }
    assert client.get("/search/suggest?q=r").get_json()["suggestions"] == []
    too_long = client.get("/search/suggest", query_string={"q": "x" * 51})
    assert too_long.status_code == 400
    assert too_long.get_json()["error"] == "At most 50 characters, please."


def test_reindex_command_shows_progress_and_counts(app, data, alice):
    for i in range(7):
        add_post(data, alice, f"Lynx {i}", "lynxes")
    add_post(data, alice, "Draft lynx", status="draft")
    result = app.test_cli_runner().invoke(args=["search", "reindex", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "Indexing posts" in result.output
    assert "Indexed 7 posts (generation 1)" in result.output
    assert app.test_client().get("/search?q=lynx").get_data(as_text=True).count("search-hit") == 7


@pytest.mark.parametrize("size", ["0", "5001", "many"])
def test_reindex_batch_size_is_limited(app, size):
    result = app.test_cli_runner().invoke(args=["search", "reindex", "--batch-size", size])
    assert result.exit_code == 2
    assert "Invalid value for '--batch-size'" in result.output


def test_post_writes_mark_pending_and_enqueue_one_drain_job(app, client, auth):
    from rq import Queue

    auth.login()
    data = app.extensions["blog_data"]
    queue = Queue("search", connection=app.extensions["rq_connection"])
    new_post(client, title="Queued", body="words")
    jobs = queue.get_jobs()
    assert [j.func_name for j in jobs] == ["jobs.search.drain_pending"]
    assert jobs[0].retries_left == 3 and "Update the search index" in jobs[0].description
    client.post("/posts/queued/edit", data={"title": "Queued", "body": "more", "tags": "",
                                             "status": "published"})  # fmt: skip
    new_post(client, title="Second", body="words")
    client.post("/posts/queued/delete")
    assert len(queue.get_jobs()) == 1  # the waiting drain takes them all
    assert data.redis.smembers("blog:search:pending") == {"1", "2"}
    assert 0 < data.redis.ttl("blog:search:queued") <= 60


@pytest.fixture
def search_worker(worker_env, redis_client):
    """A real `rq worker` on the search queue, idle and waiting."""
    from rq import Worker

    process = subprocess.Popen(
        [
            RQ,
            "worker",
            "--worker-class",
            "jobs.worker.BlogWorker",
            "--url",
            worker_env["REDIS_URL"],
            "search",
        ],  # fmt: skip
        cwd=ROOT,
        env=worker_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not any(w.pid == process.pid for w in Worker.all(connection=redis_client)):
        assert process.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "the worker never registered"
        time.sleep(0.1)
    yield process
    process.terminate()
    process.wait(timeout=30)


def wait_for(predicate, timeout: float = 30) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.02)
    return time.monotonic() - started


def found(client, q: str, title: str) -> bool:
    return title in client.get("/search", query_string={"q": q}).get_data(as_text=True)


def test_a_write_shows_in_search_within_a_second_with_an_idle_worker(
    app, client, auth, search_worker
):
    auth.login()
    delays = []
    for i in range(5):
        new_post(client, title=f"Narwhal {i}", body=f"tusk{i} facts")
        delays.append(wait_for(lambda i=i: found(client, f"tusk{i}", f"Narwhal {i}")))
    client.post("/posts/narwhal-0/delete")
    wait_for(lambda: not app.extensions["blog_data"].redis.zcard("blog:search:0:term:tusk0"))
    assert statistics.median(delays) < 1.0, delays


def test_unknown_search_language_stops_the_app(monkeypatch):
    from blog.config import ConfigError, from_environment

    monkeypatch.setenv("SEARCH_LANGUAGE", "klingon")
    with pytest.raises(ConfigError, match="SEARCH_LANGUAGE must be one of .*english"):
        from_environment()
    monkeypatch.setenv("SEARCH_LANGUAGE", "French")
    assert from_environment()["SEARCH_LANGUAGE"] == "french"
