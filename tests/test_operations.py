"""Production hardening: security headers, proxy trust, cookies, login limits, job dashboard."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, PASSWORD, ROOT, cheap_password_hashing, make_app

STRONG_KEY = "k" * 48


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


def test_every_page_carries_security_headers(client):
    for path in ("/", "/tags", "/login", "/no-such-page", "/feed.atom"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP: no HSTS


def test_hsts_over_https(client):
    response = client.get("/", base_url="https://blog.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_pages_have_no_inline_script_or_style(client, auth):
    auth.login()
    client.post("/posts/new", data={"title": "Hi", "body": "x", "tags": "a", "status": "published"})
    for path in ("/", "/posts/hi", "/posts/new", "/tags", "/dashboard", "/moderation"):
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert " style=" not in html and "<style" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_production_session_cookie_is_secure(redis_url, redis_client, media_root):
    app = make_app(
        redis_url,
        APP_ENV="production",
        TESTING=False,
        SECRET_KEY=STRONG_KEY,
        MEDIA_ROOT=str(media_root),
    )
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    client = app.test_client()
    response = client.post(
        "/login", data={"username": "alice", "password": PASSWORD}, base_url="https://blog.example"
    )
    # The session cookie (the login_device cookie, docs/security.md, is checked elsewhere).
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def comment(client, ip_header: dict | None = None, remote: str = "10.0.0.1"):
    return client.post(
        "/posts/hi/comments",
        data={"name": "Ann", "body": "Nice"},
        headers=ip_header or {},
        environ_base={"REMOTE_ADDR": remote},
    )


def test_rate_limit_counts_the_client_behind_a_trusted_proxy(redis_url, redis_client, media_root):
    app = make_app(redis_url, TRUSTED_PROXIES=1, MEDIA_ROOT=str(media_root))
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    client.post("/posts/new", data={"title": "Hi", "body": "x", "status": "published"})
    router = "10.1.1.1"
    for _ in range(5):
        assert comment(client, {"X-Forwarded-For": "203.0.113.7"}, router).status_code == 302
    assert comment(client, {"X-Forwarded-For": "203.0.113.7"}, router).status_code == 429
    # Another visitor behind the same router is not blocked.
    assert comment(client, {"X-Forwarded-For": "198.51.100.9"}, router).status_code == 302


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(client, auth):
    auth.login()
    client.post("/posts/new", data={"title": "Hi", "body": "x", "status": "published"})
    for i in range(5):  # a client forging X-Forwarded-For does not escape its limit
        assert comment(client, {"X-Forwarded-For": f"192.0.2.{i}"}).status_code == 302
    assert comment(client, {"X-Forwarded-For": "192.0.2.99"}).status_code == 429


def test_login_failures_are_limited_per_account(client, auth):
    auth.create("alice")
    for _ in range(10):
        response = client.post(
            "/login",
            data={"username": "alice", "password": "wrong-one"},
            environ_base={"REMOTE_ADDR": "10.0.0.5"},
        )
        assert response.status_code == 401
    blocked = client.post(
        "/login",
        data={"username": "alice", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.6"},
    )
    assert blocked.status_code == 429
    assert "Too many failed logins" in blocked.get_data(as_text=True)
    auth.create("bob")
    ok = client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "10.0.0.5"},
    )
    assert ok.status_code == 302


def test_login_failures_are_limited_per_address(redis_url, redis_client, media_root):
    app = make_app(redis_url, LOGIN_FAILURES_PER_IP=3, MEDIA_ROOT=str(media_root))
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        client.post("/login", data={"username": name, "password": "wrong-one"})
    assert client.post("/login", data={"username": "a4", "password": "x"}).status_code == 429
    other = client.post(
        "/login", data={"username": "a4", "password": "x"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert other.status_code == 401


def test_job_dashboard_needs_login(client):
    response = client.get("/admin/jobs/")
    assert response.status_code == 302
    assert "/login?next=/admin/jobs/" in response.headers["Location"]


def test_job_dashboard_lists_queues_and_refuses_cross_site_posts(client, auth):
    auth.login()
    page = client.get("/admin/jobs/")
    assert page.status_code == 200 and b"RQ" in page.data
    assert "unsafe-inline" in page.headers["Content-Security-Policy"]  # its own scripts
    photo = (FIXTURES / "exif-samples" / "Canon_40D.jpg").read_bytes()
    client.post(
        "/uploads", data={"image": (io.BytesIO(photo), "x.jpg")}, content_type="multipart/form-data"
    )
    queues = client.get("/admin/jobs/0/data/queues.json").get_json()["queues"]
    assert {"name": "images", "count": 1} in [
        {"name": q["name"], "count": q["count"]} for q in queues
    ]
    forged = client.post(
        "/admin/jobs/queue/images/failed/empty", headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    same_site = client.post(
        "/admin/jobs/queue/images/failed/empty", headers={"Origin": "http://localhost"}
    )
    assert same_site.status_code == 200


def test_healthz_reports_queues_workers_and_scheduler(
    client, auth, burst_worker, worker_env, redis_url, data
):
    data.backups.record({"ok": True, "key": "k", "started_at": time.time()})
    auth.login()  # the details are for authors (and monitors with HEALTHZ_TOKEN)
    body = client.get("/healthz").get_json()
    assert body["workers"] == 0 and body["scheduler"] == "missing"
    assert body["status"] == "warning"
    photo = (FIXTURES / "exif-samples" / "Canon_40D.jpg").read_bytes()
    client.post(
        "/uploads", data={"image": (io.BytesIO(photo), "x.jpg")}, content_type="multipart/form-data"
    )
    assert client.get("/healthz").get_json()["queues"]["images"] == {"waiting": 1, "failed": 0}

    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "rq"), "worker", "--url", redis_url, "images"],
        env=worker_env,
        cwd=ROOT,
        start_new_session=True,
    )
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "jobs.scheduler"], env=worker_env, cwd=ROOT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = client.get("/healthz").get_json()
            if body["status"] == "ok":
                break
            time.sleep(0.2)
        assert body["status"] == "ok", body
        assert body["workers"] == 1 and body["scheduler"] == "ok"
        assert body["queues"]["images"]["waiting"] == 0
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


def test_failed_job_can_be_retried_from_the_dashboard(client, auth, burst_worker, redis_url):
    import redis as redis_lib
    from rq import Queue

    queue = Queue("default", connection=redis_lib.Redis.from_url(redis_url))
    job = queue.enqueue("os.path.join", 1)  # raises TypeError in the worker
    burst_worker("default")
    assert job.id in queue.failed_job_registry.get_job_ids()
    auth.login()
    listing = client.get("/admin/jobs/0/data/jobs/default/failed/8/asc/1.json").get_json()
    assert [j["id"] for j in listing["jobs"]] == [job.id]
    retried = client.post(
        f"/admin/jobs/job/{job.id}/requeue", headers={"Origin": "http://localhost"}
    )
    assert retried.status_code == 200
    assert queue.job_ids == [job.id] and queue.failed_job_registry.count == 0
