"""Issue 9's findings, each with the test that failed before its fix: sessions that end,
login limits counted before the check, `next`, the Host header, the job dashboard and
/healthz's details. docs/security.md lists what each guarantees."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from tests.helpers import PASSWORD, add_post, cheap_password_hashing, make_app

STRONG_KEY = "k" * 48


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


# ---- sessions ----------------------------------------------------------------------


def stolen_copy(app, client):
    """A second client holding a copy of `client`'s session cookie (as a thief would)."""
    thief = app.test_client()
    cookie = client.get_cookie("session")
    thief.set_cookie(cookie.key, cookie.value)
    return thief


def test_logout_ends_a_copied_session_cookie(app, client, auth):
    auth.login()
    thief = stolen_copy(app, client)
    assert thief.get("/dashboard").status_code == 200
    auth.logout()
    assert thief.get("/dashboard").status_code == 302  # back to the login page


def test_log_out_everywhere_ends_every_session(app, client, auth):
    auth.login()
    laptop = stolen_copy(app, client)
    phone = app.test_client()
    phone.post("/login", data={"username": "alice", "password": PASSWORD})
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Log out everywhere" in page and 'action="/logout/everywhere"' in page
    response = client.post("/logout/everywhere")
    assert response.status_code == 302
    for browser in (client, laptop, phone):
        assert browser.get("/dashboard").status_code == 302


def test_revoke_sessions_is_the_data_layer_switch(app, client, auth, data):
    """What a password change or reset calls (issue 10)."""
    user = auth.create("alice")
    auth.login()
    data.users.revoke_sessions(user.id)
    assert client.get("/dashboard").status_code == 302
    auth.login()  # a new login works again
    assert client.get("/dashboard").status_code == 200


def test_author_session_has_an_absolute_lifetime(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), AUTHOR_SESSION_HOURS=1)
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert client.get("/dashboard").status_code == 200
    with client.session_transaction() as session:
        session["auth_at"] -= 3601  # logged in more than an hour ago
    assert client.get("/dashboard").status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is None or "user_id" not in cookie.value


def test_the_session_cookie_is_sent_only_when_the_session_changes(client, auth):
    """An answer that leaves the session alone carries no cookie: a favicon or autosave
    answer still in flight when "Save" redirects with a flash would otherwise put back
    the cookie from before the flash, and the next page would not show it."""
    auth.login()
    client.get("/posts/new")  # the editor's token is made once per session
    for url in ("/posts/new", "/dashboard", "/static/style.css", "/static/favicon.svg"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Set-Cookie" not in response.headers, url
    saved = client.post(
        "/posts/new", data={"title": "Flashed", "body": "Hi", "status": "published"}
    )
    assert saved.status_code == 302 and "Set-Cookie" in saved.headers  # the flash
    page = client.get(saved.headers["Location"])
    assert "Saved “Flashed” as published." in page.get_data(as_text=True)


def test_visitors_cost_no_redis_read_for_sessions(app, client, auth, monkeypatch):
    """An author's request checks the session in Redis; a visitor's page never asks."""
    data = app.extensions["blog_data"]
    add_post(data, auth.create("alice"), "Hi")
    calls: list[int] = []
    real = data.users.session_alive
    monkeypatch.setattr(data.users, "session_alive", lambda *a: calls.append(1) or real(*a))
    assert client.get("/posts/hi").status_code == 200 and calls == []
    auth.login()
    assert client.get("/posts/hi").status_code == 200 and calls == [1]


# ---- login limits ------------------------------------------------------------------


def login_from(client, address: str, password: str = "wrong-one", username: str = "alice"):
    return client.post(
        "/login",
        data={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_parallel_guesses_are_counted_before_the_password_check(
    redis_url, redis_client, media_root, monkeypatch
):
    """8 guesses at once (8 gunicorn workers): only the free attempts check a password."""
    monkeypatch.undo()  # real scrypt: each check takes long enough for the race to show
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), LOGIN_FAILURES_PER_ACCOUNT=3)
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    statuses: list[int] = []
    start = threading.Barrier(8)

    def guess(i: int) -> None:
        client = app.test_client()
        start.wait()
        statuses.append(login_from(client, f"10.0.0.{i}").status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [401] * 3 + [429] * 5


def test_unknown_names_cost_the_same_as_wrong_passwords(client, auth, monkeypatch):
    """CPU time of the request (the test client runs it in this thread), interleaved, so
    the load of a shared machine does not decide the outcome."""
    monkeypatch.undo()  # the real scrypt cost
    auth.create("alice")
    spent: dict[str, list[float]] = {"alice": [], "nobody": []}
    for i in range(5):
        for username in spent:
            start = time.thread_time()
            login_from(client, f"10.1.{i}.1", username=username)
            spent[username].append(time.thread_time() - start)
    known, unknown = (statistics.median(spent[name]) for name in ("alice", "nobody"))
    assert unknown > known * 0.5, (known, unknown)


def test_a_stranger_cannot_lock_the_owner_out(client, auth):
    """10 wrong passwords from anywhere slow down strangers on that account; the owner's
    browser, known from an earlier login, is counted on its own."""
    auth.create("alice")
    assert login_from(client, "10.0.0.9", PASSWORD).status_code == 302  # the owner, once
    client.post("/logout")
    stranger = client.application.test_client()
    for i in range(10):
        assert login_from(stranger, f"10.0.1.{i}").status_code == 401
    refused = login_from(stranger, "10.0.2.1", PASSWORD)
    assert refused.status_code == 429
    assert "Please wait" in refused.get_data(as_text=True)
    # The owner's browser (its login_device cookie) logs in at once.
    assert login_from(client, "10.0.0.9", PASSWORD).status_code == 302


def test_account_back_off_lets_a_later_attempt_through(client, auth):
    """No hard lock: after the free attempts, one attempt per growing delay."""
    auth.create("alice")
    for i in range(10):
        login_from(client, f"10.0.3.{i}")
    assert login_from(client, "10.0.4.1", PASSWORD).status_code == 429
    deadline = time.monotonic() + 30
    while (status := login_from(client, "10.0.4.1", PASSWORD).status_code) == 429:
        assert time.monotonic() < deadline, "the back-off never let an attempt through"
        time.sleep(0.2)
    assert status == 302


def test_address_limit_counts_attempts_on_any_account(redis_url, redis_client, media_root):
    app = make_app(redis_url, LOGIN_FAILURES_PER_IP=3, MEDIA_ROOT=str(media_root))
    client = app.test_client()
    for name in ("a1", "a2", "a3"):
        assert login_from(client, "10.5.5.5", username=name).status_code == 401
    assert login_from(client, "10.5.5.5", username="a4").status_code == 429


def test_successful_logins_use_up_no_limit(redis_url, redis_client, media_root):
    """Only failures count: an author logging in and out all day is never refused."""
    app = make_app(
        redis_url, MEDIA_ROOT=str(media_root), LOGIN_FAILURES_PER_IP=3, LOGIN_FAILURES_PER_ACCOUNT=3
    )
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    known, fresh = app.test_client(), app.test_client()
    for _ in range(6):
        assert login_from(known, "10.6.6.6", PASSWORD).status_code == 302  # its device cookie
        known.post("/logout")
        fresh.delete_cookie("login_device", path="/login")
        assert login_from(fresh, "10.6.6.7", PASSWORD).status_code == 302  # an address
        fresh.post("/logout")


@pytest.mark.parametrize(
    "target", ["/dashboard%0d%0aSet-Cookie:%20x=1", "/posts/new%0aX", "/a%09b", "/%0d/evil.example"]
)
def test_next_with_control_characters_falls_back_to_the_dashboard(client, auth, target):
    auth.create("alice")
    response = client.post(
        f"/login?next={target}", data={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


# ---- the Host header and the page cache --------------------------------------------


def test_forged_host_never_reaches_the_cached_feed(redis_url, redis_client, media_root, auth):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), PAGE_CACHE_SECONDS=60)
    data = app.extensions["blog_data"]
    add_post(data, data.users.create("alice", PASSWORD), "Hello")
    client = app.test_client()
    for path in ("/feed.atom", "/sitemap.xml"):
        poisoned = client.get(path, headers={"Host": "evil.example"})
        assert "evil.example" in poisoned.get_data(as_text=True)  # no SITE_URL: its own host
        honest = client.get(path).get_data(as_text=True)
        assert "evil.example" not in honest, path


def test_site_url_builds_every_absolute_link(redis_url, redis_client, media_root):
    app = make_app(
        redis_url,
        MEDIA_ROOT=str(media_root),
        SITE_URL="https://blog.example.org",
        TRUSTED_HOSTS=None,
    )
    data = app.extensions["blog_data"]
    add_post(data, data.users.create("alice", PASSWORD), "Hello")
    client = app.test_client()
    for path in ("/feed.atom", "/tags/x/feed.atom", "/sitemap.xml"):
        body = client.get(path, headers={"X-Forwarded-Host": "evil.example"}).get_data(as_text=True)
        assert "evil.example" not in body
    assert "https://blog.example.org/posts/hello" in client.get("/feed.atom").get_data(as_text=True)


def test_trusted_hosts_refuse_other_hosts(redis_url, redis_client, media_root, monkeypatch):
    monkeypatch.setenv("SITE_URL", "https://blog.example.org/")
    monkeypatch.delenv("TRUSTED_HOSTS", raising=False)
    from blog import config

    settings = config.from_environment()
    assert settings["SITE_URL"] == "https://blog.example.org"
    assert settings["TRUSTED_HOSTS"] == ["blog.example.org"]
    app = make_app(
        redis_url,
        MEDIA_ROOT=str(media_root),
        SITE_URL=settings["SITE_URL"],
        TRUSTED_HOSTS=settings["TRUSTED_HOSTS"],
        TRUSTED_PROXIES=1,
    )
    client = app.test_client()
    assert client.get("/", base_url="https://blog.example.org").status_code == 200
    assert client.get("/", base_url="https://evil.example").status_code == 400
    forwarded = client.get(
        "/", base_url="https://blog.example.org", headers={"X-Forwarded-Host": "evil.example"}
    )
    assert forwarded.status_code == 400


def test_trusted_hosts_from_the_environment(monkeypatch):
    from blog import config

    monkeypatch.setenv("TRUSTED_HOSTS", "blog.example.org, www.blog.example.org")
    assert config.from_environment()["TRUSTED_HOSTS"] == [
        "blog.example.org",
        "www.blog.example.org",
    ]
    monkeypatch.setenv("SITE_URL", "ftp://nope")
    with pytest.raises(config.ConfigError, match="SITE_URL"):
        config.from_environment()


# ---- the job dashboard -------------------------------------------------------------


def test_dashboard_refuses_state_changes_by_get(client, auth, redis_url):
    import redis as redis_lib
    from rq import Queue

    queue = Queue("default", connection=redis_lib.Redis.from_url(redis_url))
    job = queue.enqueue("os.path.join", 1)
    job.set_status("failed")
    queue.failed_job_registry.add(job, ttl=600)
    queue.remove(job)
    auth.login()
    for path in ("/admin/jobs/requeue/default", f"/admin/jobs/job/{job.id}/requeue"):
        response = client.get(path, headers={"Referer": "http://localhost/admin/jobs/"})
        assert response.status_code == 405, path
    assert queue.failed_job_registry.get_job_ids() == [job.id]  # nothing requeued
    cross_site = client.post(
        "/admin/jobs/requeue/default", headers={"Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert queue.failed_job_registry.get_job_ids() == [job.id]
    same_site = client.post("/admin/jobs/requeue/default", headers={"Origin": "http://localhost"})
    assert same_site.status_code == 200 and queue.job_ids == [job.id]


def test_every_dashboard_route_that_accepts_post_is_guarded(app, client, auth):
    auth.login()
    routes = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("rq_dashboard.")]
    posting = [r for r in routes if "POST" in r.methods]
    assert len(posting) >= 5
    for rule in posting:
        path = rule.rule.replace("<job_id>", "x").replace("<queue_name>", "q")
        path = path.replace("<registry_name>", "failed")
        assert client.post(path).status_code == 403, path  # no Origin, no Referer


def test_compact_of_an_empty_queue_says_so(client, auth):
    auth.login()
    response = client.post(
        "/admin/jobs/queue/images/compact", headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 200
    assert "empty" in response.get_json()["status"]


# ---- /healthz ----------------------------------------------------------------------


def test_healthz_gives_anonymous_callers_only_the_status(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), HEALTHZ_TOKEN="monitor-secret-123")
    client = app.test_client()
    assert set(client.get("/healthz").get_json()) == {"status"}
    wrong = client.get("/healthz", headers={"Authorization": "Bearer guess"})
    assert set(wrong.get_json()) == {"status"}
    assert set(client.get("/healthz?token=monitor-secret-123").get_json()) == {"status"}
    full = client.get("/healthz", headers={"Authorization": "Bearer monitor-secret-123"})
    body = full.get_json()
    assert {"redis", "queues", "workers", "scheduler", "backup", "writes", "memory"} <= set(body)


def test_healthz_details_for_authors(client, auth):
    auth.login()
    assert "workers" in client.get("/healthz").get_json()


# ---- slugs of hidden drafts (documented, see docs/security.md) --------------------


def test_draft_slug_behaviour_is_as_documented(client, auth, data):
    """A second author's identical title gets "-2" while a hidden draft holds the slug:
    docs/security.md says so (the draft's title is not shown, only its existence)."""
    add_post(data, auth.create("bob"), "Secret plans", status="draft")
    alice = auth.create("alice")
    assert add_post(data, alice, "Secret plans").slug == "secret-plans-2"
    assert client.get("/posts/secret-plans").status_code == 404


def test_session_and_limit_keys_are_never_backed_up():
    from blog.data.keys import EXCLUDED, family_of

    for name in ("user:3:sessions", "login-backoff:alice", "health:probe"):
        found = family_of(name)
        assert found is not None and found.backup == EXCLUDED, name
