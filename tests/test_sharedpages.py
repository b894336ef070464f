"""The web processes of one server share the pages they render (blog/pagecache.py
SharedPages), and a shared page is never served stale: two app instances in this
process stand for two gunicorn workers (same parent, same directory)."""

from __future__ import annotations

import os
import subprocess
import sys

from blog.pagecache import SHARED_FORMAT, SharedPages, _Entry, shared_directory
from tests.helpers import add_post, make_app, rendered_post_pages


def worker(redis_url, tmp_path, **overrides):
    """A web process with the page cache on, sharing pages under tmp_path."""
    return make_app(
        redis_url,
        MEDIA_ROOT=str(tmp_path / "media"),
        PAGE_CACHE_SECONDS=3600,
        PAGE_CACHE_DIR=str(tmp_path),
        COMMENTS_PER_MINUTE=1000,
        **overrides,
    )


def two_workers(redis_url, tmp_path, monkeypatch):
    first, second = worker(redis_url, tmp_path), worker(redis_url, tmp_path)
    data = first.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "Shared", tags=["t"])
    a, b = first.test_client(), second.test_client()
    b.get("/")  # the second worker is up (tracking) before the first renders anything
    return data, author, post, a, b, rendered_post_pages(second, monkeypatch)


def test_a_page_one_worker_rendered_is_served_by_the_others(
    redis_url, redis_client, tmp_path, monkeypatch
):
    data, author, post, a, b, b_rendered = two_workers(redis_url, tmp_path, monkeypatch)
    url = f"/posts/{post.slug}"
    first = a.get(url)
    shared = b.get(url)
    assert b_rendered == []  # read from the first worker's copy
    assert shared.get_data() == first.get_data()
    for header in ("Content-Security-Policy", "ETag", "Last-Modified", "Cache-Control"):
        assert shared.headers[header] == first.headers[header], header
    assert b.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert b.get(url + "?comment=thanks").status_code == 200  # another address: rendered
    assert b_rendered == [post.slug]
    # Authors never get a shared page (nor do they go into one).
    b.set_cookie("session", "anything")
    assert "Shared" in b.get(url).get_data(as_text=True)
    assert b_rendered == [post.slug] * 2


def test_a_write_ends_the_shared_copy_for_every_worker(
    redis_url, redis_client, tmp_path, monkeypatch
):
    data, author, post, a, b, b_rendered = two_workers(redis_url, tmp_path, monkeypatch)
    url = f"/posts/{post.slug}"
    for i in range(5):
        a.get(url)  # the first worker renders and shares it
        data.comments.add(post.id, author.id, "N", f"comment {i}.", moderated=False)
        assert f"comment {i}." in b.get(url).get_data(as_text=True)
        assert f"comment {i}." in a.get(url).get_data(as_text=True)
    assert len(b_rendered) == 5
    a.get("/")
    add_post(data, author, "Newer")  # a post write: every page, listings too
    assert "Newer" in b.get("/").get_data(as_text=True)


def test_a_comment_landing_during_another_workers_render_is_never_served(
    redis_url, redis_client, tmp_path, monkeypatch
):
    """The first worker read the post before the comment, and shares its page after it:
    the second worker, which read the comment's message after the first one's mark,
    renders the page itself."""
    first, second = worker(redis_url, tmp_path), worker(redis_url, tmp_path)
    data = first.extensions["blog_data"]
    author = data.users.create("alice", "long enough password")
    post = add_post(data, author, "Raced")
    b = second.test_client()
    b.get("/")
    real = data.post_page

    def read_then_comment(slug: str):
        page = real(slug)
        data.comments.add(post.id, author.id, "N", "written mid-render", moderated=False)
        monkeypatch.setattr(data, "post_page", real)
        return page

    monkeypatch.setattr(data, "post_page", read_then_comment)
    url = f"/posts/{post.slug}"
    assert "written mid-render" not in first.test_client().get(url).get_data(as_text=True)
    assert "written mid-render" in b.get(url).get_data(as_text=True)


def test_a_worker_trusts_no_post_page_marked_before_it_was_listening(
    redis_url, redis_client, tmp_path, monkeypatch
):
    """A comment written before a worker connected sent it no message: a post page
    another worker rendered before then may lack it, so it is rendered again."""
    first = worker(redis_url, tmp_path)
    data = first.extensions["blog_data"]
    post = add_post(data, data.users.create("alice", "long enough password"), "Early")
    first.test_client().get(f"/posts/{post.slug}")
    late = worker(redis_url, tmp_path)
    late_rendered = rendered_post_pages(late, monkeypatch)
    late.test_client().get(f"/posts/{post.slug}")
    assert late_rendered == [post.slug]


def test_sharing_is_off_unless_the_directory_is_private(tmp_path):
    directory = shared_directory(str(tmp_path), "blog one")
    assert directory is not None and directory.parent == tmp_path
    assert directory.stat().st_mode & 0o777 == 0o700
    assert shared_directory(str(tmp_path), "blog one") == directory  # the same again
    assert shared_directory(str(tmp_path), "blog two") != directory  # another blog
    directory.chmod(0o777)  # opened up (or made first by someone else): not used
    assert shared_directory(str(tmp_path), "blog one") is None
    directory.rmdir()
    directory.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    assert shared_directory(str(tmp_path), "blog one") is None
    assert shared_directory("", "blog one") is None


def test_directories_of_servers_no_longer_running_are_removed(tmp_path):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    uid = os.getuid()
    stale = tmp_path / f"blog-pages-{uid}-{gone}-abc"
    running = tmp_path / f"blog-pages-{uid}-{os.getpid()}-abc"
    other = tmp_path / "something-else"
    for path in (stale, running, other):
        path.mkdir()
    shared_directory(str(tmp_path), "blog")
    assert not stale.exists() and running.exists() and other.exists()


def test_a_broken_foreign_or_oversized_file_is_a_miss(tmp_path):
    shared = SharedPages(tmp_path, max_entry=100)
    entry = _Entry("tag", 1e18, [("Content-Type", "text/html")], b"<p>page</p>", (3, 12.5))
    shared.put("/a?", entry)
    assert shared.get("/a?") == entry
    assert shared.get("/b?") is None  # nothing there, or another page in its slot
    path = shared._path("/a?")
    with open(path, "rb") as f:
        whole = f.read()
    cut_short, not_a_list = whole[:-1], SHARED_FORMAT + b"7\n"
    broken_files = (b"", whole[:5], cut_short, not_a_list, SHARED_FORMAT + b"{not json\n")
    for broken in (*broken_files, b"old format\n" + whole):
        with open(path, "wb") as f:
            f.write(broken)
        assert shared.get("/a?") is None
    shared.put("/big?", _Entry("tag", 1e18, [], b"x" * 101))  # past max_entry: not shared
    assert shared.get("/big?") is None
    blocked = shared._path("/c?")
    os.mkdir(blocked)  # the rename fails (as on a full tmpfs): no error, not shared
    shared.put("/c?", entry)
    assert shared.get("/c?") is None and not os.listdir(blocked)
    assert not [name for name in os.listdir(tmp_path) if "." in name]  # nothing left aside
