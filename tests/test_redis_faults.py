"""A misbehaving Redis (issue 9): hung (SIGSTOP of the test's own redis-server) and full
(maxmemory with noeviction on the test's own server). Each test starts its own
redis-server so the session's server is never disturbed. (A worker killed mid-job:
tests/test_worker_kill.py.)"""

from __future__ import annotations

import io
import os
import signal
import time
from contextlib import contextmanager

import pytest
import redis

from devtools.redis_server import RedisServer
from tests.helpers import FIXTURES, PASSWORD, add_post, cheap_password_hashing, make_app


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path / "redis", persistent=False).start()
    yield server
    os.kill(server.process.pid, signal.SIGCONT)  # never leave it stopped
    server.stop()


@pytest.fixture
def blog_clients(own_redis, tmp_path):
    """The app on the test's own Redis with a post "Hello": a logged-in author's client
    and a visitor's; /healthz details with the header `Bearer ttt...`."""
    app = make_app(own_redis.url, MEDIA_ROOT=str(tmp_path / "media"), HEALTHZ_TOKEN="t" * 20)
    data = app.extensions["blog_data"]
    add_post(data, data.users.create("alice", PASSWORD), "Hello")
    author, visitor = app.test_client(), app.test_client()
    author.post("/login", data={"username": "alice", "password": PASSWORD})
    return author, visitor


@contextmanager
def hung(server: RedisServer):
    """Redis stops answering, connections stay open: what a stuck server looks like."""
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def timed(function):
    start = time.monotonic()
    result = function()
    return result, time.monotonic() - start


# ---- hung Redis --------------------------------------------------------------------


def test_hung_redis_gives_a_503_within_two_seconds(own_redis, blog_clients):
    author, visitor = blog_clients
    assert visitor.get("/healthz").status_code == 200  # pooled connections are open
    assert visitor.get("/posts/hello").status_code == 200
    with hung(own_redis):
        health, seconds = timed(lambda: visitor.get("/healthz"))
        assert health.status_code == 503 and seconds < 2, seconds
        assert health.get_json() == {"status": "error"}
        details = visitor.get("/healthz", headers={"Authorization": "Bearer " + "t" * 20})
        assert details.status_code == 503 and details.get_json()["redis"] == "error"
        for client, path in ((visitor, "/posts/hello"), (visitor, "/"), (author, "/dashboard")):
            page, seconds = timed(lambda c=client, p=path: c.get(p))
            assert page.status_code == 503, path
            assert seconds < 5, (path, seconds)
            text = page.get_data(as_text=True)
            assert "database is not answering" in text and '<header class="site">' in text
    assert visitor.get("/posts/hello").status_code == 200  # back by itself


def test_job_dashboard_on_a_hung_redis_answers(own_redis, tmp_path):
    app = make_app(own_redis.url, MEDIA_ROOT=str(tmp_path / "media"))
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert client.get("/admin/jobs/0/data/queues.json").status_code == 200
    with hung(own_redis):
        response, seconds = timed(lambda: client.get("/admin/jobs/0/data/queues.json"))
    assert response.status_code == 503 and seconds < 10, seconds


# ---- full Redis --------------------------------------------------------------------


def fill_up(server: RedisServer) -> None:
    """maxmemory just below what is used now: every write is refused, reads work."""
    r = redis.Redis.from_url(server.url)
    used = int(r.info("memory")["used_memory"])
    r.config_set("maxmemory-policy", "noeviction")
    r.config_set("maxmemory", max(1, used - 64 * 1024))  # below use: always full


def test_full_redis_refuses_writes_clearly_and_keeps_the_text(own_redis, blog_clients):
    author, visitor = blog_clients
    body = "My long text that must not be lost. " * 400
    fill_up(own_redis)

    saved = author.post(
        "/posts/new", data={"title": "Unsaved", "body": body, "status": "published"}
    )
    assert saved.status_code == 503
    page = saved.get_data(as_text=True)
    assert "The blog cannot save right now, your text is kept" in page
    assert "My long text that must not be lost." in page and "Unsaved" in page
    assert saved.headers["Retry-After"]

    comment = visitor.post(
        "/posts/hello/comments", data={"name": "Ann", "body": "A thoughtful comment " * 200}
    )
    assert comment.status_code == 503
    assert "A thoughtful comment" in comment.get_data(as_text=True)

    wrong = visitor.post("/login", data={"username": "alice", "password": "wrong password"})
    assert wrong.status_code == 503
    assert "wrong password" not in wrong.get_data(as_text=True)  # passwords are never echoed

    upload = author.post(
        "/uploads",
        data={
            "image": (
                io.BytesIO((FIXTURES / "exif-samples" / "Canon_40D.jpg").read_bytes()),
                "x.jpg",
            )
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 503 and "cannot save" in upload.get_json()["error"]

    # Reads keep working, for visitors and the author.
    assert visitor.get("/posts/hello").status_code == 200
    assert visitor.get("/").status_code == 200
    assert author.get("/dashboard").status_code == 200

    health = visitor.get("/healthz", headers={"Authorization": "Bearer " + "t" * 20})
    assert health.status_code == 503
    report = health.get_json()
    assert report["writes"] == "failing" and report["status"] == "error"
    assert report["memory"]["used_ratio"] >= 0.9
    assert report["memory"]["max_bytes"] > 0
