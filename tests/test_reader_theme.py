"""Reading and the first day's rough edges (issue 12), over HTTP with a real Redis:
share tags, covers on listings, reading time, author line, previous/next, feeds linked,
favicon, sitemap CSP, "Log in to continue", the Jobs link, backup counts and progress."""

from __future__ import annotations

import re
import time

import pytest
from rq import Queue

from blog.data import ImageVariant
from tests.helpers import add_post, elements, make_app


def meta(page: str) -> dict[str, str]:
    """<meta property|name=... content=...> and <link rel=canonical> of a page."""
    found = {}
    for tag, attrs in elements(page):
        if tag == "meta" and (attrs.get("property") or attrs.get("name")):
            found[attrs.get("property") or attrs.get("name")] = attrs.get("content")
        if tag == "link" and attrs.get("rel") == "canonical":
            found["canonical"] = attrs["href"]
    return found


@pytest.fixture
def author(data):
    return data.users.create("alice", "correct horse battery")


@pytest.fixture
def photo(data, author):
    record = data.images.create(author.id, "JPEG", "jpg", "image/jpeg", 10, "boats.jpg")
    data.images.mark_ready(
        record.id,
        1600,
        1200,
        [],
        [
            ImageVariant("original", 3200, 2400, 10),
            ImageVariant("web", 1600, 1200, 5),
            ImageVariant("thumb", 400, 300, 2),
        ],
    )
    return record


def test_post_page_has_share_tags_with_an_absolute_cover(client, data, author, photo):
    body = f"Past the *fishing boats*.\n\n![Boats at dusk](/media/{photo.id}/original.jpg)"
    post = add_post(data, author, "Harbour walk", body=body)
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    tags = meta(page)
    assert tags["canonical"] == "http://localhost/posts/harbour-walk"
    assert tags["og:url"] == tags["canonical"]
    assert tags["og:type"] == "article"
    assert tags["og:title"] == tags["twitter:title"] == "Harbour walk"
    assert tags["og:description"] == tags["description"] == "Past the fishing boats."
    assert tags["og:image"] == f"http://localhost/media/{photo.id}/web.jpg"
    assert (tags["og:image:width"], tags["og:image:height"]) == ("1600", "1200")
    assert tags["og:image:alt"] == "Boats at dusk"
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:image"] == tags["og:image"]
    assert tags["og:site_name"] == "A Redis Blog"


def test_share_urls_follow_site_url(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), SITE_URL="https://blog.example.org/")
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "correct horse battery")
    post = add_post(data, author, "Elsewhere", body="No picture here.")
    page = app.test_client().get(f"/posts/{post.slug}").get_data(as_text=True)
    tags = meta(page)
    assert tags["canonical"] == "https://blog.example.org/posts/elsewhere"
    assert tags["twitter:card"] == "summary" and "og:image" not in tags
    home = meta(app.test_client().get("/?page=1").get_data(as_text=True))
    assert home["canonical"] == "https://blog.example.org/"
    assert home["og:type"] == "website"


def test_listing_shows_cover_thumb_reading_time_and_author(client, data, author, photo):
    words = "word " * 700  # about 3 minutes
    add_post(data, author, "Long read", body=f"![Boats](/media/{photo.id}/original.jpg)\n\n{words}")
    add_post(data, author, "Short note", body="Just this.")
    page = client.get("/").get_data(as_text=True)
    [cover] = [a for t, a in elements(page) if t == "img" and "cover" in (a.get("class") or "")]
    assert cover["src"] == f"/media/{photo.id}/thumb.jpg"
    assert (cover["width"], cover["height"]) == ("400", "300")
    assert cover["alt"] == "Boats"
    assert "3 min read" in page and "1 min read" in page
    assert page.count('By <span class="author">alice</span>') == 2


def test_previous_and_next_links(client, data, author):
    first = add_post(data, author, "First")
    time.sleep(0.01)
    second = add_post(data, author, "Second")
    add_post(data, author, "Draft", status="draft")
    add_post(data, author, "Future", status="scheduled", publish_at=time.time() + 3600)
    time.sleep(0.01)
    third = add_post(data, author, "Third")
    links = {
        a.get("rel"): a["href"]
        for t, a in elements(client.get(f"/posts/{second.slug}").get_data(as_text=True))
        if t == "a" and a.get("rel") in ("prev", "next")
    }
    assert links == {"prev": f"/posts/{first.slug}", "next": f"/posts/{third.slug}"}
    newest = client.get(f"/posts/{third.slug}").get_data(as_text=True)
    assert 'rel="next"' not in newest  # neither the draft nor the future post
    assert "← Previous post" in newest


def test_feeds_and_favicon_are_linked(client, data, author):
    add_post(data, author, "Tagged", tags=["harbour"])
    page = client.get("/tags/harbour").get_data(as_text=True)
    alternates = [
        a["href"] for t, a in elements(page) if t == "link" and a.get("rel") == "alternate"
    ]
    assert alternates == ["/feed.atom", "/tags/harbour/feed.atom"]
    icons = [a["href"] for t, a in elements(page) if t == "link" and a.get("rel") == "icon"]
    assert icons == ["/static/favicon.svg"]
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/static/favicon.ico").mimetype in (
        "image/vnd.microsoft.icon",
        "image/x-icon",
    )


def test_sitemap_has_a_policy_the_xml_viewer_can_live_with(client, data, author):
    add_post(data, author, "Listed")
    for _ in range(2):  # the second answer comes from the visitors' page cache
        policy = client.get("/sitemap.xml").headers["Content-Security-Policy"]
        assert "style-src 'unsafe-inline'" in policy and "img-src data:" in policy
        assert "script-src" not in policy and "default-src 'none'" in policy
    assert "unsafe-inline" not in client.get("/").headers["Content-Security-Policy"]


def test_login_says_why_when_a_visitor_was_sent_there(client):
    sent = client.get("/posts/new", follow_redirects=True).get_data(as_text=True)
    assert "Log in to continue." in sent
    assert "Log in to continue." not in client.get("/login").get_data(as_text=True)


def test_authors_get_a_jobs_link_and_the_dashboard_a_way_back(client, auth):
    assert 'href="/admin/jobs/">Jobs</a>' not in client.get("/").get_data(as_text=True)
    auth.login()
    assert 'href="/admin/jobs/">Jobs</a>' in client.get("/").get_data(as_text=True)
    dashboard = client.get("/admin/jobs/").get_data(as_text=True)
    assert '<a class="navbar-brand" href="/dashboard">← Back to A Redis Blog</a>' in dashboard


@pytest.fixture
def backup_root(app, tmp_path):
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    return tmp_path / "backups"


def test_backup_counts_read_one_post_two_posts(app, client, auth, data, backup_root):
    from blog.backups import service
    from blog.backups.targets import LocalTarget

    auth.login()
    author = data.users.by_username("alice")
    add_post(data, author, "Only one")
    storage, target = app.extensions["media_storage"], LocalTarget(backup_root)
    service.run_backup(data, storage, target, app.config)
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "1 post, 0 comments, 0 images" in page
    add_post(data, author, "Now two")
    service.run_backup(data, storage, target, app.config)
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "2 posts, 0 comments, 0 images" in page
    assert "1 posts" not in page


def test_back_up_now_answers_json_and_reports_job_progress(app, client, auth, data):
    auth.login()
    answer = client.post("/admin/backups", headers={"Accept": "application/json"})
    assert answer.status_code == 202
    job_id, status_url = answer.get_json()["job_id"], answer.get_json()["status_url"]
    assert status_url == f"/admin/backups/jobs/{job_id}"
    again = client.post("/admin/backups", headers={"Accept": "application/json"})
    assert again.status_code == 409 and again.get_json()["job_id"] == job_id  # one at a time

    job = Queue("backups", connection=app.extensions["rq_connection"]).fetch_job(job_id)
    job.meta.update(step="media", progress={"data": [12, None], "media": [1024, 4096]})
    job.save_meta()
    status = client.get(status_url).get_json()
    assert status["state"] == "queued" and status["step"] == "media"
    assert status["progress"] == {"data": [12, None], "media": [1024, 4096]}
    assert "outcome" not in status

    data.backups.record(
        {
            "ok": True,
            "key": "blog-1.tar.gz",
            "size": 2 * 1048576,
            "job_id": job_id,
            "started_at": time.time(),
            "counts": {"posts": 1, "comments": 0, "images": 2},
        }
    )
    job.delete()  # the job's record expired: the outcome is still found
    status = client.get(status_url).get_json()
    assert status["state"] == "finished"
    assert status["outcome"] == {
        "ok": True,
        "key": "blog-1.tar.gz",
        "size": "2.0 MB",
        "counts": "1 post, 0 comments, 2 images",
        "error": None,
    }
    assert client.get("/admin/backups/jobs/nope").status_code == 404
    page = client.get("/admin/backups").get_data(as_text=True)
    assert re.search(r'<script src="/static/backups.js" defer>', page)


def test_rerender_fixes_posts_saved_before_an_upgrade(runner, data, author, photo, redis_client):
    post = add_post(
        data, author, "Old", body=f"Past the *boats*.\n\n![B](/media/{photo.id}/original.jpg)"
    )
    add_post(data, author, "Gone")
    data.posts.delete(data.posts.get(data.posts.id_for_slug("gone")))
    # As an older version stored it: excerpt with a stray space, no cover, no reading time.
    redis_client.hset(f"blog:post:{post.id}", "excerpt", "Past the boats .")
    redis_client.hdel(f"blog:post:{post.id}", "cover", "reading_minutes")
    result = runner.invoke(args=["posts", "rerender"])
    assert result.exit_code == 0 and "Rendered 1 post again." in result.output
    again = data.posts.get(post.id)
    assert again.excerpt == "Past the boats."
    assert again.cover.id == photo.id and again.reading_minutes == 1
    assert (again.updated_at, again.slug, again.body) == (post.updated_at, post.slug, post.body)
