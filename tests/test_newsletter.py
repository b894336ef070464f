"""The web side of mail: subscribe, confirm, unsubscribe, the subscriber list, planning
announcements, profile, password reset. Jobs are only enqueued here (no worker); the
sending is tested in tests/test_mail_jobs.py."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import UTC, datetime

import pytest
import redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from processing.mail import Tokens
from tests.conftest import AuthActions
from tests.helpers import (
    PASSWORD,
    cheap_password_hashing,
    commands_sent,
    login_with_token,
    make_app,
    new_post,
)

SECRET = "test-secret-key-not-for-production"
MAIL = {
    "MAIL_SERVER": "127.0.0.1",
    "MAIL_PORT": 2525,
    "SITE_URL": "https://blog.example",
    "MAIL_DEFAULT_SENDER": "news@blog.example",
}


@pytest.fixture
def app(redis_url, redis_client, media_root, monkeypatch):
    cheap_password_hashing(monkeypatch)
    return make_app(redis_url, MEDIA_ROOT=str(media_root), **MAIL)


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


@pytest.fixture
def mail_queue(redis_url):
    return Queue("mail", connection=redis.Redis.from_url(redis_url))


def jobs(queue: Queue, func: str) -> list[Job]:
    return [j for j in queue.get_jobs() if j.func_name == func]


def scheduled(queue: Queue) -> dict[str, float]:
    registry = ScheduledJobRegistry(queue=queue)
    return {
        job_id: registry.get_scheduled_time(job_id).timestamp() for job_id in registry.get_job_ids()
    }


def subscribe(client, email="Ada@Example.com", **extra):
    return client.post("/subscribe", data={"email": email, **extra})


# ---- subscribe ------------------------------------------------------------------------


def test_footer_form_on_every_page_without_a_session(client):
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert 'action="/subscribe"' in html and ">Subscribe</button>" in html
    assert "Set-Cookie" not in page.headers  # listing pages stay cacheable
    assert client.get("/subscribe").status_code == 200


@pytest.mark.parametrize(
    "headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://elsewhere.example"}]
)
def test_subscribing_from_another_site_is_refused(client, data, headers):
    """The footer form has no token (shareable pages): its POST is guarded by origin."""
    response = client.post("/subscribe", data={"email": "ada@example.com"}, headers=headers)
    assert response.status_code == 403
    assert data.subscribers.get("ada@example.com") is None
    same_site = {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}
    response = client.post("/subscribe", data={"email": "ada@example.com"}, headers=same_site)
    assert response.status_code == 200


def test_no_mail_server_no_subscribe_form(redis_url, redis_client, media_root):
    client = make_app(redis_url, MEDIA_ROOT=str(media_root)).test_client()
    assert 'action="/subscribe"' not in client.get("/").get_data(as_text=True)
    assert client.get("/subscribe").status_code == 404


def test_subscribe_answers_alike_and_mails_once_per_ten_minutes(client, data, mail_queue):
    first = subscribe(client)
    assert first.status_code == 200 and "Check your inbox" in first.get_data(as_text=True)
    assert data.subscribers.get("ada@example.com").status == "pending"
    [job] = jobs(mail_queue, "jobs.mail.send_confirmation")
    assert job.args == ("ada@example.com",)
    again = subscribe(client, " ADA@example.com ")
    assert again.get_data(as_text=True) == first.get_data(as_text=True)
    assert len(jobs(mail_queue, "jobs.mail.send_confirmation")) == 1  # 10-minute cool-down

    data.subscribers.confirm("ada@example.com", time.time())
    data.redis.delete(data.keys.mail_cooldown("confirm", "ada@example.com"))
    confirmed = subscribe(client)  # already subscribed: same answer, no mail, no change
    assert confirmed.get_data(as_text=True) == first.get_data(as_text=True)
    assert len(jobs(mail_queue, "jobs.mail.send_confirmation")) == 1
    assert data.subscribers.get("ada@example.com").status == "confirmed"


@pytest.mark.parametrize(
    "email, message",
    [
        ("", "Please give your email address."),
        ("not an address", "like name@example.com"),
        ("a" * 250 + "@example.com", "at most 254 characters"),
    ],
)
def test_subscribe_rejects_bad_addresses(client, data, email, message):
    answer = subscribe(client, email)
    assert answer.status_code == 400
    assert message in answer.get_data(as_text=True)
    assert data.subscribers.counts()["pending"] == 0


def test_honeypot_and_per_ip_limit(client, data, mail_queue):
    assert subscribe(client, "bot@example.com", website="http://spam").status_code == 200
    assert data.subscribers.get("bot@example.com") is None
    assert not jobs(mail_queue, "jobs.mail.send_confirmation")
    for i in range(4):
        assert subscribe(client, f"r{i}@example.com").status_code == 200
    limited = subscribe(client, "late@example.com")
    assert limited.status_code == 429
    assert "Please wait a minute" in limited.get_data(as_text=True)


# ---- confirm and unsubscribe ---------------------------------------------------------------


def test_confirm_needs_the_button_and_a_valid_token(client, data):
    subscribe(client)
    token = Tokens(SECRET).confirm("ada@example.com")
    page = client.get(f"/subscribe/confirm/{token}")
    assert page.status_code == 200 and "Confirm subscription" in page.get_data(as_text=True)
    assert data.subscribers.get("ada@example.com").status == "pending"  # GET changed nothing
    done = client.post(f"/subscribe/confirm/{token}")
    assert done.status_code == 200 and "You are subscribed" in done.get_data(as_text=True)
    assert data.subscribers.get("ada@example.com").status == "confirmed"
    assert client.get("/subscribe/confirm/forged").status_code == 400


def test_confirm_link_expires_after_48_hours(client, monkeypatch):
    import itsdangerous.timed

    subscribe(client)
    token = Tokens(SECRET).confirm("ada@example.com")
    now = time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + 49 * 3600)
    answer = client.get(f"/subscribe/confirm/{token}")
    assert answer.status_code == 400 and "expired" in answer.get_data(as_text=True)


def test_one_click_unsubscribe_without_session_or_csrf(redis_url, redis_client, media_root):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), WTF_CSRF_ENABLED=True, **MAIL)
    data = app.extensions["blog_data"]
    data.subscribers.subscribe("ada@example.com", time.time())
    data.subscribers.confirm("ada@example.com", time.time())
    client = app.test_client()
    url = f"/unsubscribe/{Tokens(SECRET).unsubscribe('ada@example.com')}"
    page = client.get(url)
    assert ">Unsubscribe</button>" in page.get_data(as_text=True)
    assert data.subscribers.get("ada@example.com").status == "confirmed"  # GET: no change
    # What a mail client does (RFC 8058): a POST with this body, no cookies, no token.
    answer = app.test_client().post(
        url,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert data.subscribers.get("ada@example.com").status == "unsubscribed"
    assert app.test_client().post(url).status_code == 200  # twice is fine
    assert app.test_client().post("/unsubscribe/forged-token").status_code == 400
    # A confirm token is no unsubscribe token.
    confirm = Tokens(SECRET).confirm("ada@example.com")
    assert app.test_client().post(f"/unsubscribe/{confirm}").status_code == 400


def test_resubscribing_after_unsubscribe_needs_confirmation_again(client, data):
    data.subscribers.subscribe("ada@example.com", time.time())
    data.subscribers.confirm("ada@example.com", time.time())
    data.subscribers.unsubscribe("ada@example.com", time.time())
    subscribe(client)
    assert data.subscribers.get("ada@example.com").status == "pending"


def test_three_hard_bounces_end_the_subscription(data):
    data.subscribers.subscribe("gone@example.com", time.time())
    data.subscribers.confirm("gone@example.com", time.time())
    assert data.subscribers.bounce("gone@example.com", time.time()) == "confirmed"
    assert data.subscribers.bounce("gone@example.com", time.time()) == "confirmed"
    assert data.subscribers.bounce("gone@example.com", time.time()) == "bounced"
    assert data.subscribers.counts() == {
        "pending": 0,
        "confirmed": 0,
        "bounced": 1,
        "unsubscribed": 0,
    }


# ---- the authors' list ----------------------------------------------------------------------


def add_subscribers(data, statuses: dict[str, str]) -> None:
    for email, status in statuses.items():
        data.subscribers.subscribe(email, time.time())
        if status == "confirmed":
            data.subscribers.confirm(email, time.time())
        if status == "unsubscribed":
            data.subscribers.unsubscribe(email, time.time())


def test_admin_subscribers_counts_list_remove_and_csv(client, auth, data):
    add_subscribers(
        data,
        {
            "a@example.com": "confirmed",
            "b@example.com": "pending",
            "=cmd@example.com": "confirmed",
            "c@example.com": "unsubscribed",
        },
    )
    assert client.get("/admin/subscribers").status_code == 302  # authors only
    auth.login()
    html = client.get("/admin/subscribers").get_data(as_text=True)
    assert re.search(r'id="count-confirmed">2<', html)
    assert re.search(r'id="count-pending">1<', html)
    assert re.search(r'id="count-unsubscribed">1<', html)
    assert "b@example.com" in html and "Export CSV" in html

    export = client.get("/admin/subscribers.csv")
    assert export.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True))))
    assert {r["email"] for r in rows} == {
        "a@example.com",
        "b@example.com",
        "'=cmd@example.com",  # a spreadsheet must not run it as a formula
        "c@example.com",
    }
    assert {r["status"] for r in rows} == {"confirmed", "pending", "unsubscribed"}

    client.post("/admin/subscribers/remove", data={"email": "b@example.com"})
    assert data.subscribers.get("b@example.com") is None


def test_admin_remove_needs_csrf(redis_url, redis_client, media_root, monkeypatch):
    cheap_password_hashing(monkeypatch)
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), WTF_CSRF_ENABLED=True, **MAIL)
    data = app.extensions["blog_data"]
    add_subscribers(data, {"a@example.com": "confirmed"})
    data.users.create("alice", PASSWORD)
    client = app.test_client()
    login_with_token(client)
    assert (
        client.post("/admin/subscribers/remove", data={"email": "a@example.com"}).status_code == 400
    )
    assert data.subscribers.get("a@example.com") is not None


# ---- announcements are planned, moved and cancelled -------------------------------------------


def when(seconds: float) -> str:
    return datetime.fromtimestamp(time.time() + seconds, UTC).strftime("%Y-%m-%dT%H:%M")


def box_ticked(page: str) -> bool:
    tag = re.search(r'<input[^>]*id="email_subscribers"[^>]*>', page)
    assert tag, "no 'Email this post to subscribers' checkbox"
    return " checked" in tag.group(0)


def announce_jobs(queue):
    return jobs(queue, "jobs.mail.announce_post")


def test_publishing_enqueues_one_announcement(client, auth, data, mail_queue):
    auth.login()
    new_post(client, title="Now", email_subscribers="y")
    post_id = data.posts.id_for_slug("now")
    [job] = announce_jobs(mail_queue)
    assert job.args == (post_id,)
    assert data.announcements.get(post_id).state == "scheduled"
    # Editing, or unpublishing and publishing again, after it began: nothing more.
    data.announcements.start(post_id, job.id, 0, time.time())
    form = {"title": "Now", "body": "x", "tags": "", "email_subscribers": "y"}
    client.post("/posts/now/edit", data={**form, "status": "published"})
    client.post("/posts/now/edit", data={**form, "status": "draft"})
    client.post("/posts/now/edit", data={**form, "status": "published"})
    assert len(announce_jobs(mail_queue)) == 1
    assert data.announcements.get(post_id).state == "sending"


def test_unticked_box_and_drafts_announce_nothing(client, auth, data, mail_queue):
    auth.login()
    new_post(client, title="Quiet")  # the box is not in the form data: unticked
    new_post(client, title="Draft", status="draft", email_subscribers="y")
    assert not announce_jobs(mail_queue) and not scheduled(mail_queue)


def test_a_new_posts_announcement_and_its_job_are_one_round_trip(
    client, auth, data, mail_queue, monkeypatch
):
    """A new post has no announcement to cancel or move: with the box ticked, its record
    and its job are written in one MULTI/EXEC (both or neither, so no record ever names
    a job that was never queued); unticked or a draft, mail costs no round trip."""
    auth.login()
    assert new_post(client, title="Warm up").status_code == 302  # connects, loads scripts

    def commands(**form) -> list[str]:
        with commands_sent(monkeypatch) as sent:
            assert new_post(client, **form).status_code == 302
        return sent

    data.redis.set(data.keys.search_queued, "1")  # no search drain job in the counts
    assert commands(title="Quiet") == ["ZSCORE", "EVALSHA"]
    assert commands(title="Draft", status="draft", email_subscribers="y") == ["ZSCORE", "EVALSHA"]
    assert commands(title="Now", email_subscribers="y") == ["ZSCORE", "EVALSHA", "MULTI"]
    later = {"title": "Later", "status": "scheduled", "publish_at": when(3600)}
    assert commands(**later, email_subscribers="y") == ["ZSCORE", "EVALSHA", "MULTI"]
    for slug in ("now", "later"):
        post = data.posts.get(data.posts.id_for_slug(slug))
        announcement = data.announcements.get(post.id)
        assert announcement.state == "scheduled" and announcement.at == post.published_at
        assert Job.fetch(announcement.job, connection=mail_queue.connection).args == (post.id,)
    [now_job] = announce_jobs(mail_queue)
    assert now_job.id == data.announcements.get(data.posts.id_for_slug("now")).job
    assert list(scheduled(mail_queue)) == [data.announcements.get(post.id).job]
    assert data.announcements.get(data.posts.id_for_slug("quiet")) is None


def test_scheduled_post_is_announced_at_its_time_and_moves_with_it(client, auth, data, mail_queue):
    auth.login()
    new_post(
        client, title="Later", status="scheduled", publish_at=when(3600), email_subscribers="y"
    )
    post_id = data.posts.id_for_slug("later")
    first = scheduled(mail_queue)
    [(job_id, at)] = first.items()
    assert abs(at - data.posts.get(post_id).published_at) < 1

    form = {"title": "Later", "body": "", "tags": "", "email_subscribers": "y"}
    client.post("/posts/later/edit", data={**form, "status": "scheduled", "publish_at": when(7200)})
    [(moved_id, moved_at)] = scheduled(mail_queue).items()
    assert moved_id != job_id and moved_at - at > 3000  # moved, the old one removed
    assert not Job.exists(job_id, connection=mail_queue.connection)
    edit_page = client.get("/posts/later/edit").get_data(as_text=True)
    assert box_ticked(edit_page)

    client.post("/posts/later/edit", data={**form, "status": "draft"})  # unpublished
    assert not scheduled(mail_queue)
    assert data.announcements.get(post_id).state == "cancelled"

    client.post("/posts/later/edit", data={**form, "status": "scheduled", "publish_at": when(60)})
    assert len(scheduled(mail_queue)) == 1
    client.post("/posts/later/delete")
    assert not scheduled(mail_queue)
    assert data.announcements.get(post_id) is None


def test_editing_an_old_post_does_not_tick_the_box(client, auth, data):
    auth.login()
    new_post(client, title="Old")  # published without mail
    page = client.get("/posts/old/edit").get_data(as_text=True)
    assert "Email this post to subscribers" in page
    assert not box_ticked(page)
    assert box_ticked(client.get("/posts/new").get_data(as_text=True))


def test_edit_page_shows_sent_to_n_of_m(client, auth, data, mail_queue):
    auth.login()
    new_post(client, title="Out", email_subscribers="y")
    post_id = data.posts.id_for_slug("out")
    [job] = announce_jobs(mail_queue)
    data.announcements.start(post_id, job.id, 3, time.time())
    data.announcements.record(post_id, "a@example.com")
    data.announcements.record(post_id, "b@example.com")
    assert "sent to 2 of 3" in client.get("/posts/out/edit").get_data(as_text=True)


def test_comment_notices_are_planned_once_per_ten_minutes(client, auth, data, mail_queue):
    auth.login()
    new_post(client, title="Talk")
    auth.logout()
    for i in range(3):
        client.post("/posts/talk/comments", data={"name": f"R{i}", "body": "hi"})
    assert len(jobs(mail_queue, "jobs.mail.notify_comments")) == 1  # the others join it


# ---- authors: email, password, reset --------------------------------------------------------


def test_create_user_with_email(runner, data):
    result = runner.invoke(
        args=["create-user", "bob", "--email", "Bob@Example.com", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert data.users.by_username("bob").email == "bob@example.com"
    bad = runner.invoke(args=["create-user", "eve", "--email", "nope"], input="x\n")
    assert bad.exit_code == 2 and "name@example.com" in bad.output


def test_profile_sets_email(client, auth, data):
    auth.login()
    assert "Save email" in client.get("/profile").get_data(as_text=True)
    bad = client.post("/profile/email", data={"email": "nope"})
    assert bad.status_code == 400 and "like name@example.com" in bad.get_data(as_text=True)
    client.post("/profile/email", data={"email": "Alice@Example.com"})
    assert data.users.by_username("alice").email == "alice@example.com"


def test_password_change_logs_out_the_other_sessions(app, client, auth, data):
    auth.login()
    other = app.test_client()
    AuthActions(app, other).login(create=False)
    assert other.get("/dashboard").status_code == 200

    wrong = client.post(
        "/profile/password",
        data={"current_password": "wrong", "new_password": "x" * 8, "repeat_password": "x" * 8},
    )
    assert wrong.status_code == 400 and "not your current password" in wrong.get_data(as_text=True)
    short = client.post(
        "/profile/password",
        data={"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
    )
    assert short.status_code == 400 and "8 to 200 characters" in short.get_data(as_text=True)

    new = "a brand new password"
    changed = client.post(
        "/profile/password",
        data={"current_password": PASSWORD, "new_password": new, "repeat_password": new},
    )
    assert changed.status_code == 302
    assert client.get("/dashboard").status_code == 200  # this session goes on
    assert other.get("/dashboard").status_code == 302  # the other one is logged out
    assert data.users.authenticate("alice", new)


def test_forgot_answers_alike_and_mails_only_a_known_address(client, auth, data, mail_queue):
    user = auth.create()
    data.users.set_email(user.id, "alice@example.com")
    answers = [
        client.post("/login/forgot", data={"login": login}).get_data(as_text=True)
        for login in ("alice", "nobody", "ALICE@example.com", "nobody@example.com")
    ]
    assert len(set(answers)) == 1 and "Check your inbox" in answers[0]
    resets = jobs(mail_queue, "jobs.mail.send_password_reset")
    assert [j.args for j in resets] == [(user.id,), (user.id,)]
    client.post("/login/forgot", data={"login": "alice"})
    client.post("/login/forgot", data={"login": "alice"})  # past 3 an hour: no more mail
    assert len(jobs(mail_queue, "jobs.mail.send_password_reset")) == 3
    assert client.post("/login/forgot", data={"login": "x" * 300}).status_code == 400


def test_forgot_is_limited_per_ip(client):
    for _ in range(10):
        assert client.post("/login/forgot", data={"login": "someone"}).status_code == 200
    assert client.post("/login/forgot", data={"login": "someone"}).status_code == 429


def test_reset_link_works_once_and_logs_out_everywhere(app, client, auth, data):
    auth.login()  # a session that must end
    user = data.users.by_username("alice")
    token = Tokens(SECRET).reset(user.id, user.password_hash)
    other = app.test_client()
    assert ">Set new password</button>" in other.get(f"/login/reset/{token}").get_data(as_text=True)
    new = "the new password!"
    mismatch = other.post(
        f"/login/reset/{token}", data={"new_password": new, "repeat_password": new + "x"}
    )
    assert mismatch.status_code == 400 and "differ" in mismatch.get_data(as_text=True)
    done = other.post(f"/login/reset/{token}", data={"new_password": new, "repeat_password": new})
    assert done.status_code == 302 and done.location.endswith("/login")
    assert data.users.authenticate("alice", new)
    assert client.get("/dashboard").status_code == 302  # the old session is gone
    again = other.get(f"/login/reset/{token}")
    assert again.status_code == 400 and "already used" in again.get_data(as_text=True)


# ---- release and health ---------------------------------------------------------------------


def test_release_refuses_production_mail_without_site_url(redis_url, redis_client, media_root):
    config = {**MAIL, "SITE_URL": ""}
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), APP_ENV="production", **config)
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code != 0 and "SITE_URL" in result.output
    ok = make_app(redis_url, MEDIA_ROOT=str(media_root), APP_ENV="production", **MAIL)
    result = ok.test_cli_runner().invoke(args=["release"])
    assert "mail: via 127.0.0.1:2525, links to https://blog.example" in result.output


def test_healthz_warns_after_an_smtp_login_failure(client, auth, data):
    auth.login()  # /healthz details are for authors (issue 9)
    assert client.get("/healthz").get_json()["mail"] == "ok"
    data.mail.record_error("SMTP login as 'x' was refused: check MAIL_USERNAME", time.time())
    body = client.get("/healthz").get_json()
    assert body["status"] == "warning" and body["mail"] == "error"
    assert "MAIL_USERNAME" in body["mail_error"]


def test_backups_keep_subscribers_and_announcements_but_not_mail_bookkeeping(data):
    from blog.data.keys import ENTITY, EXCLUDED, family_of

    keys = data.keys
    for key in (keys.subscribers, keys.announcement(3), keys.announcement_sent(3)):
        assert family_of(keys.name(key)).backup is ENTITY  # archived and restored
    for key in (
        keys.mail_pace,
        keys.mail_error,
        keys.mail_cooldown("confirm", "a@example.com"),
        keys.comment_notice(3),
    ):
        assert family_of(keys.name(key)).backup is EXCLUDED


def test_backup_round_trip_keeps_the_newsletter(app, data, redis_client, tmp_path):
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    add_subscribers(data, {"a@example.com": "confirmed", "b@example.com": "pending"})
    data.announcements.schedule(7, 1.0, "announce-7-x")
    data.announcements.start(7, "announce-7-x", 2, time.time())
    data.announcements.record(7, "a@example.com")
    data.mail.cooldown("confirm", "b@example.com", 600)
    data.mail.record_error("boom", time.time())
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "run"])
    assert result.exit_code == 0, result.output
    key = data.backups.last_good()["key"]

    redis_client.flushall()
    result = runner.invoke(args=["backup", "restore", key])
    assert result.exit_code == 0, result.output
    assert data.subscribers.counts()["confirmed"] == 1
    assert data.subscribers.get("b@example.com").status == "pending"
    restored = data.announcements.get(7)
    assert (restored.state, restored.sent, restored.total) == ("sending", 1, 2)
    assert data.announcements.already_sent(7, ["a@example.com"]) == [True]
    assert not redis_client.keys("blog:mail:*")  # the sender's bookkeeping stays out
