"""A cached page costs no Redis round trip and is never stale after a write, whichever
process wrote: server-assisted client-side caching (CLIENT TRACKING) on Redis 7.0."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest

from blog.data import DataLayer, PostInput, connect
from blog.data.reindex import reindex
from devtools.redis_server import free_port
from tests.conftest import ROOT, make_app
from tests.helpers import add_post, count_round_trips, rendered_post_pages


def test_two_app_instances_never_see_a_stale_page(redis_url, redis_client, media_root):
    reader = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    writer = make_app(redis_url, MEDIA_ROOT=str(media_root), COMMENTS_PER_MINUTE=1000)
    counter = count_round_trips(reader, redis_url)
    data = writer.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "Watched")
    visitor, poster = reader.test_client(), writer.test_client()
    url = f"/posts/{post.slug}"
    visitor.get(url)
    for i in range(30):
        counter.reset()
        assert f"comment {i} " not in visitor.get(url).get_data(as_text=True)
        assert counter.round_trips == 0  # a hit: nothing asked of Redis
        response = poster.post(f"{url}/comments", data={"name": "N", "body": f"comment {i} "})
        assert response.status_code == 302
        # The very next request to the other instance shows it: no sleep, no retry.
        assert f"comment {i} " in visitor.get(url).get_data(as_text=True)


def test_a_post_saved_by_the_save_script_is_seen_at_once(redis_url, redis_client, media_root):
    """Posts are saved by a Lua script, not MULTI/EXEC: Redis sends the invalidation of
    the version key the script bumps before the script's reply, as for an EXEC."""
    reader = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    writer = make_app(redis_url, MEDIA_ROOT=str(media_root))
    counter = count_round_trips(reader, redis_url)
    data = writer.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "First")
    visitor = reader.test_client()
    url = f"/posts/{post.slug}"
    for i in range(20):
        assert f"Text {i}." not in visitor.get(url).get_data(as_text=True)  # cached
        data.posts.update(post, PostInput("First", f"Text {i}.", [], "published"))
        assert f"Text {i}." in visitor.get(url).get_data(as_text=True)
        add_post(data, author, f"New {i}.", tags=["fresh"])
        assert f"New {i}." in visitor.get("/").get_data(as_text=True)
        counter.reset()
        assert f"New {i}." in visitor.get("/").get_data(as_text=True)
        assert counter.round_trips == 0  # cached again until the next write


def test_a_comment_re_renders_its_post_and_the_listings_only(
    redis_url, redis_client, media_root, monkeypatch
):
    reader = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    writer = make_app(redis_url, MEDIA_ROOT=str(media_root), COMMENTS_PER_MINUTE=1000)
    count_round_trips(reader, redis_url)
    rendered = rendered_post_pages(reader, monkeypatch)
    data = writer.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    busy, quiet = add_post(data, author, "Busy"), add_post(data, author, "Quiet")
    visitor, poster = reader.test_client(), writer.test_client()
    quiet_page = visitor.get(f"/posts/{quiet.slug}").get_data()
    visitor.get(f"/posts/{busy.slug}")
    visitor.get("/")
    rendered.clear()
    for i in range(1, 6):
        response = poster.post(f"/posts/{busy.slug}/comments", data={"name": "N", "body": f"c{i}"})
        assert response.status_code == 302
        assert f"c{i}" in visitor.get(f"/posts/{busy.slug}").get_data(as_text=True)
        count = "1 comment" if i == 1 else f"{i} comments"
        assert count in visitor.get("/").get_data(as_text=True)  # listings count them
        assert visitor.get(f"/posts/{quiet.slug}").get_data() == quiet_page
    assert rendered == [busy.slug] * 5  # the other post's page was never rendered again
    # Any post write still ends every page.
    data.posts.update(quiet, PostInput("Quiet", "Edited body", [], "published"))
    assert "Edited body" in visitor.get(f"/posts/{quiet.slug}").get_data(as_text=True)


def test_a_comment_landing_during_a_render_is_never_served_after(
    redis_url, redis_client, media_root, monkeypatch
):
    """The page read the post before the comment was written, and is cached after it:
    the comment's message, read later, still ends that copy."""
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "Raced")
    real = data.post_page

    def read_then_comment(slug: str):
        page = real(slug)
        if not getattr(read_then_comment, "done", False):
            read_then_comment.done = True  # type: ignore[attr-defined]
            data.comments.add(post.id, author.id, "N", "written mid-render", moderated=False)
        return page

    monkeypatch.setattr(data, "post_page", read_then_comment)
    client = app.test_client()
    url = f"/posts/{post.slug}"
    assert "written mid-render" not in client.get(url).get_data(as_text=True)
    assert "written mid-render" in client.get(url).get_data(as_text=True)


def test_a_lost_tracking_connection_is_never_trusted(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    counter = count_round_trips(app, redis_url)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "Watched")
    client = app.test_client()
    url = f"/posts/{post.slug}"
    client.get(url)
    # Redis drops the tracking connection; a write follows, with no message to anyone.
    # Only a comment, which leaves the post version alone: the post page must still go.
    assert redis_client.client_kill_filter(_type="pubsub") >= 1
    data.comments.add(post.id, author.id, "N", "after the kill", moderated=False)
    assert "after the kill" in client.get(url).get_data(as_text=True)
    counter.reset()
    client.get(url)
    assert counter.round_trips == 0  # tracking again on a new connection


def test_restore_or_flush_changes_every_validator(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    add_post(data, author, "Before")
    before = data.content_state()
    redis_client.flushall()  # the counter starts again, as after a restore
    author = data.users.create("alice", "long enough password")
    add_post(data, author, "After")
    after = data.content_state()
    assert after.version == before.version and after.tag != before.tag


def test_a_reindex_after_a_restore_makes_every_process_re_render(
    redis_url, redis_client, media_root
):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=3600)
    data = app.extensions["blog_data"]
    add_post(data, data.users.create("alice", "long enough password"), "Kept")
    client = app.test_client()
    assert "Kept" in client.get("/").get_data(as_text=True)
    redis_client.hset(data.keys.post(1), "title", "Restored")  # a restore writes entities
    reindex(redis_client, data.keys)  # ...then rebuilds the indexes
    assert "Restored" in client.get("/").get_data(as_text=True)


# ---- real processes ----------------------------------------------------------------


@pytest.fixture
def gunicorn(redis_url, redis_client, media_root, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "APP_ENV": "development",
        "SECRET_KEY": "x" * 32,
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(media_root),
        "PAGE_CACHE_SECONDS": "3600",
        # The workers share the pages they render: one renders, the others serve it.
        "PAGE_CACHE_DIR": str(tmp_path),
        "COMMENTS_PER_MINUTE": "1000",
    }
    command = [sys.executable, "-m", "gunicorn", "app:app", "-w", "3"]
    command += ["-b", f"127.0.0.1:{port}", "--chdir", str(ROOT)]
    process = subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)


def fetch(url: str, data: bytes | None = None) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=10) as r:
        return r.read().decode()


def test_processes_never_serve_a_page_older_than_a_finished_write(gunicorn, redis_url, tmp_path):
    """This test process writes; gunicorn's worker processes serve cached pages, their
    own or (shared pages) one another's."""
    data = DataLayer(connect(redis_url), "blog:")
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "Across processes")
    url = f"{gunicorn}/posts/{post.slug}"
    for _ in range(12):  # every worker has the page cached
        fetch(url)
    for i in range(40):
        data.comments.add(post.id, author.id, "N", f"process write {i}.", moderated=False)
        assert f"process write {i}." in fetch(url)  # whichever worker answers
        assert f"process write {i}." in fetch(url)
        # A comment through one worker, read back through (likely) another.
        fetch(f"{url}/comments", f"name=N&body=via+http+{i}.".encode())
        assert f"via http {i}." in fetch(url)
    shared = [d for d in tmp_path.iterdir() if d.name.startswith("blog-pages-")]
    assert len(shared) == 1 and any(shared[0].iterdir())  # the workers shared pages
