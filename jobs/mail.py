"""The mail jobs (`mail` queue): thin wrappers that read the data, build messages with
processing/mail.py and send them with blog/mailer.py.

A post's announcement is a chain: `announce_post` (at the post's publish time) counts
the confirmed subscribers and starts `send_announcement_batch` at HSCAN cursor 0; each
batch sends about BATCH_SIZE messages over one SMTP connection, then enqueues the batch
at the next cursor (the last one marks the announcement sent). Exactly once per reader:
before each message the address is looked up in the post's sent record, and it is
written as soon as the SMTP server answers 250. A retried or re-run batch skips who is
done; a worker killed between the server's 250 and that write sends that one message
again (docs/mail.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage

from rq import get_current_job

from blog.data import DataLayer, Post, SentinelSettings
from blog.mailer import MailConfigError, SmtpSession, SmtpSettings
from blog.queues import enqueue_mail, rq_connection
from processing.mail import (
    CommentSummary,
    Envelope,
    Links,
    PostSummary,
    Tokens,
    announcement_message,
    comments_message,
    confirmation_message,
    reset_message,
)

from .context import data_layer, settings

log = logging.getLogger(__name__)

CLOCK_TOLERANCE = 5.0  # seconds an announcement may start before its post's time


class Deferred(RuntimeError):
    """Some recipients got a 4xx ("try later"): the job fails so that RQ retries it."""


def _envelope() -> Envelope:
    config = settings()
    if not config["SITE_URL"]:
        raise MailConfigError("SITE_URL is not set: mail needs absolute links to the blog")
    sender = SmtpSettings.from_config(config).sender
    return Envelope(sender, config["BLOG_TITLE"], Links(config["SITE_URL"]))


def _tokens() -> Tokens:
    secret = settings()["SECRET_KEY"]
    if not secret:
        raise MailConfigError("SECRET_KEY is not set for the worker: mail links are signed")
    return Tokens(secret)


@dataclass(frozen=True)
class Outbox:
    """What a job sends with: one SMTP connection, the blog's envelope, the link signer."""

    session: SmtpSession
    envelope: Envelope
    tokens: Tokens


@contextmanager
def outbox(data: DataLayer) -> Iterator[Outbox]:
    """One SMTP connection. A configuration error (no SITE_URL, wrong password, refused
    sender) is kept in Redis for /healthz and re-raised without retries: the job lands in
    the failed jobs of /admin/jobs with that message, to retry there once it is fixed."""
    try:
        envelope, tokens = _envelope(), _tokens()
        with SmtpSession(SmtpSettings.from_config(settings())) as session:
            data.mail.clear_error()
            yield Outbox(session, envelope, tokens)
    except MailConfigError as error:
        data.mail.record_error(str(error), time.time())
        log.error("mail: %s", error)
        job = get_current_job()
        if job is not None:  # waiting does not fix a password: fail now, visibly
            job.retries_left = 0
        raise


def _send_one(data: DataLayer, to: str, build: Callable[[Outbox], EmailMessage]) -> str:
    with outbox(data) as out:
        delivery = out.session.send(build(out), to)
    if delivery.status == "deferred":
        raise Deferred(f"{to}: {delivery.code} {delivery.reply}")
    return delivery.status


def _summary(post: Post) -> PostSummary:
    return PostSummary(post.title, post.excerpt, post.slug, post.author)


# ---- announcements ------------------------------------------------------------------------


def announce_post(post_id: int) -> str:
    """The post's time has come: count the confirmed subscribers and start the batches,
    unless this announcement was moved, cancelled or already sent."""
    data = data_layer()
    job = get_current_job()
    post = data.posts.get(post_id)
    early = post.published_at - time.time() if post else 0
    if 0 < early <= CLOCK_TOLERANCE:  # another host's clock ran a little ahead
        time.sleep(early)
    if post is None or not post.is_visible(time.time()):
        return "not visible"
    total = data.subscribers.counts()["confirmed"]
    if not data.announcements.start(post_id, job.id if job else "", total, time.time()):
        return "moved, cancelled or already sent"
    _enqueue_batch(post_id, 0)
    log.info("announcing post %s to %d subscribers", post_id, total)
    return f"announcing to {total}"


def _enqueue_batch(post_id: int, cursor: int) -> None:
    """The batch at `cursor`, once: a re-run of the batch before it finds it enqueued."""
    enqueue_mail(
        "jobs.mail.send_announcement_batch",
        post_id,
        cursor,
        job_id=f"announce-{post_id}-batch-{cursor}",
        unique=True,
        connection=rq_connection(settings()["REDIS_URL"], SentinelSettings.from_config(settings())),
        description=f"Post {post_id} to subscribers, batch at cursor {cursor}",
    )


def send_announcement_batch(post_id: int, cursor: int) -> dict:
    data = data_layer()
    if not data.announcements.has_begun(post_id):
        return {"skipped": "announcement cancelled"}
    post = data.posts.get(post_id)
    if post is None or not post.is_visible(time.time()):
        return {"skipped": "post deleted or no longer visible"}
    next_cursor, emails = data.subscribers.confirmed_batch(cursor, settings()["MAIL_BATCH_SIZE"])
    counts, deferred = _deliver(data, post, emails)
    if next_cursor:
        _enqueue_batch(post_id, next_cursor)
    else:
        data.announcements.finish(post_id, time.time())
    if deferred:  # after the next batch is on its way: one slow server holds nobody up
        raise Deferred(f"{len(deferred)} recipients said try later: {', '.join(deferred[:5])}")
    return counts


def _deliver(data: DataLayer, post: Post, emails: list[str]) -> tuple[dict, list[str]]:
    """Send `post` to each address not yet in its sent record; one SMTP connection."""
    done = data.announcements.already_sent(post.id, emails)
    todo = [email for email, sent in zip(emails, done, strict=True) if not sent]
    counts = {"sent": 0, "bounced": 0, "skipped": len(emails) - len(todo)}
    deferred: list[str] = []
    if not todo:
        return counts, deferred
    summary, rate = _summary(post), settings()["MAIL_RATE_PER_SECOND"]
    with outbox(data) as out:
        for email in todo:
            already, wait = data.announcements.before_send(post.id, email, rate)
            if already:  # another run of this batch got there first
                counts["skipped"] += 1
                continue
            if wait > 0:
                time.sleep(wait)
            token = out.tokens.unsubscribe(email)
            delivery = out.session.send(
                announcement_message(out.envelope, email, summary, token), email
            )
            if delivery.status == "sent":
                data.announcements.record(post.id, email)
                counts["sent"] += 1
            elif delivery.status == "bounced":
                data.announcements.record(post.id, email, bounced=True)
                data.subscribers.bounce(email, time.time())
                counts["bounced"] += 1
                log.info("mail: %s bounced (%s %s)", email, delivery.code, delivery.reply)
            else:
                deferred.append(email)
    return counts, deferred


# ---- single messages ----------------------------------------------------------------------


def send_confirmation(email: str) -> str:
    """The double opt-in link, to an address still waiting for it."""
    data = data_layer()
    subscriber = data.subscribers.get(email)
    if subscriber is None or subscriber.status != "pending":
        return "not pending"
    status = _send_one(
        data,
        email,
        lambda out: confirmation_message(out.envelope, email, out.tokens.confirm(email)),
    )
    if status == "bounced":
        data.subscribers.bounce(email, time.time())
    return status


def send_password_reset(user_id: int) -> str:
    data = data_layer()
    user = data.users.get(user_id)
    if user is None or not user.email:
        return "no address"

    def build(out: Outbox) -> EmailMessage:
        token = out.tokens.reset(user.id, user.password_hash)
        return reset_message(out.envelope, user.email, user.username, token)

    return _send_one(data, user.email, build)


def notify_comments(post_id: int) -> str:
    """One notice to the post's author for every comment since the last notice."""
    data = data_layer()
    cursor = data.mail.claim_comment_notice(post_id, time.time())
    post = data.posts.get(post_id)
    author = data.users.get(post.author_id) if post else None
    if post is None or author is None or not author.email:
        return "no post or no address"
    comments = data.comments.since(post_id, cursor)
    if not comments:
        return "nothing new"
    summaries = [CommentSummary(c.name, c.body, c.status == "pending") for c in comments]
    status = _send_one(
        data,
        author.email,
        lambda out: comments_message(out.envelope, author.email, _summary(post), summaries),
    )
    data.mail.commit_comment_notice(post_id, comments[-1].created_at)
    return f"{status}: {len(comments)} comments"
