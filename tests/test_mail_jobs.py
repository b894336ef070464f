"""Mail end to end: the web app enqueues, real `rq worker` processes send through a real
SMTP server (aiosmtpd); faults on the way (server down mid-batch, 4xx and 5xx for one
address, wrong credentials, a worker SIGKILLed mid-fan-out) never lose a reader and never
send a reader the same post twice (except, at most, the one message in flight at a kill).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from blog.data import PostInput
from tests.helpers import cheap_password_hashing, make_app, start_worker, stop_worker, wait_for
from tests.mail_support import SmtpServer

pytestmark = pytest.mark.slow
SECRET = "test-secret-key-not-for-production"
SITE = "https://blog.example"


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(cert_dir=tmp_path).start()
    yield server
    server.stop()


def mail_config(server: SmtpServer, **extra) -> dict[str, str]:
    return {
        **server.settings(),
        "SITE_URL": SITE,
        "MAIL_RATE_PER_SECOND": "0",
        "MAIL_BATCH_SIZE": "10",
        **extra,
    }


# /healthz details need the token (issue 9).
MONITOR_TOKEN = "mail-test-monitor-token"
MONITOR = {"Authorization": f"Bearer {MONITOR_TOKEN}"}


@pytest.fixture
def app(redis_url, redis_client, media_root, smtp, monkeypatch):
    cheap_password_hashing(monkeypatch)
    config = mail_config(smtp)
    config["MAIL_PORT"] = int(config["MAIL_PORT"])
    return make_app(redis_url, MEDIA_ROOT=str(media_root), HEALTHZ_TOKEN=MONITOR_TOKEN, **config)


class Workers:
    """Real `rq worker` processes on the `mail` queue; all stopped at teardown."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.started: list[subprocess.Popen] = []

    def start(self, scheduler: bool = True, **env: str) -> subprocess.Popen:
        extra = ["--with-scheduler"] if scheduler else []
        process = start_worker({**self.env, **env}, *extra, queue="mail", log=self.log)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            stop_worker(process)


@pytest.fixture
def workers(worker_env, smtp, tmp_path):
    env = {**worker_env, **mail_config(smtp), "SECRET_KEY": SECRET, "APP_ENV": "testing"}
    made = Workers(env, tmp_path / "workers.log")
    yield made
    made.stop_all()
    print(made.log.read_text(errors="replace")[-5000:] if made.log.exists() else "")


def confirmed_readers(data, count: int, prefix: str = "reader") -> list[str]:
    emails = [f"{prefix}{i:03d}@example.com" for i in range(count)]
    for email in emails:
        data.subscribers.subscribe(email, time.time())
        data.subscribers.confirm(email, time.time())
    return emails


def publish(app, data, title: str = "Hello readers", publish_at: float | None = None):
    """Save a post through the data layer and plan its announcement as the editor does."""
    from blog.newsletter.announce import plan_announcement

    author = data.users.by_username("alice") or data.users.create("alice", "a long password")
    status = "scheduled" if publish_at else "published"
    post = data.posts.create(
        author.id, author.username, PostInput(title, "Some *text*", [], status, publish_at)
    )
    with app.test_request_context():
        plan_announcement(post, True)
    return post


def assert_once_each(smtp: SmtpServer, emails: list[str], allowed_twice: int = 0) -> None:
    received = Counter(smtp.recorder.recipients())
    missing = [e for e in emails if not received[e]]
    assert not missing, f"never received: {missing[:5]}"
    twice = [e for e, n in received.items() if n > 1]
    assert len(twice) <= allowed_twice, f"received more than once: {twice}"
    assert set(received) == set(emails), set(received) ^ set(emails)


def test_announcement_reaches_every_confirmed_reader_once(app, data, smtp, workers):
    readers = confirmed_readers(data, 25)  # three batches of 10
    data.subscribers.subscribe("pending@example.com", time.time())
    data.subscribers.subscribe("gone@example.com", time.time())
    data.subscribers.unsubscribe("gone@example.com", time.time())
    workers.start()
    post = publish(app, data)
    wait_for(lambda: smtp.recorder.count() >= 25, what="25 messages")
    wait_for(lambda: data.announcements.get(post.id).state == "sent", what="sent state")
    assert_once_each(smtp, readers)
    announcement = data.announcements.get(post.id)
    assert (announcement.sent, announcement.total) == (25, 25)

    message = smtp.recorder.to("reader007@example.com")[0]
    assert message.get_content_type() == "multipart/alternative"
    assert f"{SITE}/posts/{post.slug}" in message.get_body(("plain",)).get_content()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The header's URL, POSTed as a mail client does, unsubscribes that reader.
    url = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"]).group(1)
    assert url.startswith(f"{SITE}/unsubscribe/")
    answer = app.test_client().post(url.removeprefix(SITE), data="List-Unsubscribe=One-Click")
    assert answer.status_code == 200
    assert data.subscribers.get("reader007@example.com").status == "unsubscribed"


def test_scheduled_announcement_goes_at_its_time(app, data, smtp, workers):
    confirmed_readers(data, 3)
    workers.start()
    at = time.time() + 4
    post = publish(app, data, "Later", publish_at=at)
    assert data.announcements.get(post.id).state == "scheduled"
    wait_for(lambda: smtp.recorder.count() >= 3, timeout=60, what="the scheduled announcement")
    assert time.time() >= at  # not a moment before the post is visible
    assert data.announcements.get(post.id).total == 3


def test_smtp_down_mid_batch_loses_nothing_and_repeats_nothing(app, data, smtp, workers):
    readers = confirmed_readers(data, 20)
    smtp.recorder.delay = 0.05
    workers.start()
    publish(app, data)
    wait_for(lambda: smtp.recorder.count() >= 4, what="the first messages")
    smtp.stop()  # the server goes away in the middle of the first batch
    queue = Queue("mail", connection=redis.Redis.from_url(app.config["REDIS_URL"]))
    wait_for(lambda: ScheduledJobRegistry(queue=queue).count, timeout=30, what="a retry scheduled")
    before = smtp.recorder.count()
    assert before < 20
    smtp.start()  # back on the same port; the retry (5 s later) carries on
    wait_for(lambda: smtp.recorder.count() >= 20, timeout=90, what="the rest after the retry")
    assert_once_each(smtp, readers)


def test_4xx_is_retried_and_5xx_bounces_one_address(app, data, smtp, workers):
    readers = confirmed_readers(data, 8)
    smtp.recorder.refuse.update(
        {"reader002@example.com": "550 5.1.1 No such user", "reader005@example.com": "451 Later"}
    )
    workers.start()
    post = publish(app, data)
    wait_for(lambda: smtp.recorder.count() >= 6, what="the other six")
    wait_for(lambda: smtp.recorder.rcpt_attempts.get("reader005@example.com"), what="the 451")
    assert data.subscribers.get("reader002@example.com").bounces == 1
    smtp.recorder.refuse.pop("reader005@example.com")  # the server accepts it now
    wait_for(lambda: smtp.recorder.to("reader005@example.com"), timeout=60, what="the retry")
    time.sleep(0.5)  # a wrong second send would come at once
    assert_once_each(smtp, [r for r in readers if r != "reader002@example.com"])
    assert smtp.recorder.rcpt_attempts["reader002@example.com"] == 1  # not tried again
    announcement = data.announcements.get(post.id)
    assert (announcement.sent, announcement.bounced, announcement.total) == (7, 1, 8)


def test_sigkill_mid_fan_out_sends_each_reader_the_post_once(app, data, smtp, workers):
    readers = confirmed_readers(data, 40)
    smtp.recorder.delay = 0.05
    first = workers.start(scheduler=False)
    publish(app, data)
    wait_for(lambda: smtp.recorder.count() >= 15, what="the fan-out under way")
    worker = psutil.Process(first.pid)
    victims = [*worker.children(recursive=True), worker]
    for process in victims:
        process.kill()
    psutil.wait_procs(victims, timeout=10)
    first.wait(timeout=10)
    assert len(victims) == 2, "expected the worker and its work horse"
    killed_at = smtp.recorder.count()
    assert killed_at < 40

    # What a live worker's maintenance does once the dead worker's heartbeat expires
    # (see tests/test_worker_kill.py): the orphaned batch goes back for a retry.
    rq_redis = redis.Redis.from_url(app.config["REDIS_URL"])
    registry = StartedJobRegistry(queue=Queue("mail", connection=rq_redis))
    orphans = registry.get_job_ids()
    assert len(orphans) == 1
    registry.cleanup(timestamp=time.time() + 3600)
    assert Job.fetch(orphans[0], connection=rq_redis).get_status() in (
        JobStatus.SCHEDULED,
        JobStatus.QUEUED,
    )
    workers.start()
    wait_for(lambda: len(set(smtp.recorder.recipients())) >= 40, timeout=90, what="all 40")
    time.sleep(0.5)
    # The one message in flight when the worker died may arrive twice; nothing else.
    assert_once_each(smtp, readers, allowed_twice=1)


def test_wrong_credentials_fail_the_job_clearly(
    app, data, tmp_path, workers, redis_url, media_root
):
    server = SmtpServer(mode="starttls", auth=True, cert_dir=tmp_path).start()
    try:
        env = {
            **server.settings(password="wrong"),
            "SSL_CERT_FILE": str(tmp_path / "smtp-cert.pem"),
        }
        workers.start(**env)
        data.subscribers.subscribe("ada@example.com", time.time())
        queue = Queue("mail", connection=redis.Redis.from_url(redis_url))
        job = queue.enqueue("jobs.mail.send_confirmation", "ada@example.com")
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.FAILED, what="job failed")
        assert job.id in FailedJobRegistry(queue=queue).get_job_ids()  # seen in /admin/jobs
        assert "check MAIL_USERNAME and MAIL_PASSWORD" in job.latest_result().exc_string
        health = app.test_client().get("/healthz", headers=MONITOR).get_json()
        assert health["mail"] == "error" and "MAIL_PASSWORD" in health["mail_error"]

        # The right password, over verified STARTTLS: the message goes, the warning clears.
        workers.stop_all()
        workers.start(**{**env, "MAIL_PASSWORD": server.settings()["MAIL_PASSWORD"]})
        queue.enqueue("jobs.mail.send_confirmation", "ada@example.com")
        wait_for(lambda: server.recorder.to("ada@example.com"), what="the confirmation")
        assert app.test_client().get("/healthz", headers=MONITOR).get_json()["mail"] == "ok"
    finally:
        server.stop()


def test_comment_flood_makes_one_notice_then_the_next(app, data, smtp, workers, redis_url):
    author = data.users.create("alice", "a long password", "alice@example.com")
    post = data.posts.create(author.id, "alice", PostInput("Talk", "x", [], "published"))
    workers.start()
    client = app.test_client()
    client.post(f"/posts/{post.slug}/comments", data={"name": "First", "body": "one"})
    wait_for(lambda: smtp.recorder.to("alice@example.com"), what="the first notice")
    for i in range(3):
        client.post(f"/posts/{post.slug}/comments", data={"name": f"Later{i}", "body": "more"})
    queue = Queue("mail", connection=redis.Redis.from_url(redis_url))
    registry = ScheduledJobRegistry(queue=queue)
    [job_id] = registry.get_job_ids()  # one notice planned for all three
    assert registry.get_scheduled_time(job_id).timestamp() > time.time() + 500
    assert len(smtp.recorder.to("alice@example.com")) == 1
    # Ten minutes later (brought forward here): one notice with the three comments.
    registry.schedule(Job.fetch(job_id, connection=queue.connection), datetime.now(UTC))
    wait_for(lambda: len(smtp.recorder.to("alice@example.com")) == 2, what="the second")
    second = smtp.recorder.to("alice@example.com")[1]
    assert second["Subject"] == "3 new comments on “Talk”"
    text = second.get_body(("plain",)).get_content()
    assert all(f"Later{i}" in text for i in range(3)) and "First" not in text


def test_password_reset_by_mail(app, data, smtp, workers):
    author = data.users.create("alice", "the old password", "alice@example.com")
    workers.start()
    client = app.test_client()
    client.post("/login/forgot", data={"login": "alice"})
    [message] = wait_for(lambda: smtp.recorder.to("alice@example.com"), what="reset mail")
    text = message.get_body(("plain",)).get_content()
    link = re.search(r"https://blog\.example(/login/reset/\S+)", text).group(1)
    new = "a fresh password"
    done = client.post(link, data={"new_password": new, "repeat_password": new})
    assert done.status_code == 302
    assert data.users.authenticate("alice", new).id == author.id
    assert client.post(link, data={"new_password": new, "repeat_password": new}).status_code == 400


def test_rate_limit_is_honoured(app, data, smtp, workers):
    """MAIL_RATE_PER_SECOND=20: 30 messages need at least 29 / 20 s between the first and
    the last (a lower bound only: a loaded machine can only make it slower)."""
    readers = confirmed_readers(data, 30)
    arrivals: list[float] = []
    handle = smtp.recorder.handle_DATA

    async def timed(server, session, envelope):
        arrivals.append(time.monotonic())
        return await handle(server, session, envelope)

    smtp.recorder.handle_DATA = timed
    workers.start(MAIL_RATE_PER_SECOND="20")
    publish(app, data)
    wait_for(lambda: smtp.recorder.count() >= 30, what="30 messages")
    assert_once_each(smtp, readers)
    assert arrivals[-1] - arrivals[0] >= 29 / 20 - 0.05


def test_no_site_url_fails_at_once_and_says_so(app, data, workers, redis_url):
    workers.start(SITE_URL="")
    data.subscribers.subscribe("ada@example.com", time.time())
    queue = Queue("mail", connection=redis.Redis.from_url(redis_url))
    job = queue.enqueue("jobs.mail.send_confirmation", "ada@example.com")
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FAILED, what="job failed")
    assert "SITE_URL is not set" in job.latest_result().exc_string
    assert "SITE_URL" in app.test_client().get("/healthz", headers=MONITOR).get_json()["mail_error"]
