"""What the web side does about mail: plan (or move, or cancel) a post's announcement,
ask for a confirmation, a comment notice or a password reset. Only enqueues: every
message leaves through a job on the `mail` queue."""

from __future__ import annotations

import secrets
import time
from functools import partial

from flask import current_app

from ..data import Post, get_data
from ..data.mail import Announcement
from ..queues import enqueue_mail, remove_job

CONFIRMATION_COOLDOWN = 600  # at most one confirmation mail per address per 10 minutes
COMMENT_NOTICE_COOLDOWN = 600  # at most one comment notice per post per 10 minutes


def mail_enabled() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def plan_announcement(post: Post, wanted: bool, created: bool = False) -> None:
    """After a save: announce a visible post at its publish time (now if published),
    move the announcement when the time moved, cancel it for a draft or when the author
    unticked the box. Once sending began, nothing changes: a post goes out once.
    A post just `created` has no announcement to cancel or move: none is read, and a
    new one is written with its job in one round trip."""
    if not mail_enabled():
        return
    data = get_data()
    if post.status == "draft" or not wanted:
        if not created:
            cancel_announcement(post.id)
        return
    job_id = f"announce-{post.id}-{secrets.token_hex(4)}"
    announce = partial(
        enqueue_mail,
        "jobs.mail.announce_post",
        post.id,
        job_id=job_id,
        at=post.published_at,
        description=f"Announce post {post.id} to subscribers",
    )
    if created:
        schedule_new = data.announcements.schedule_new
        announce(along=partial(schedule_new, post_id=post.id, at=post.published_at, job_id=job_id))
        return
    outcome, old_job = data.announcements.schedule(post.id, post.published_at, job_id)
    if outcome != "scheduled":
        return
    if old_job:
        remove_job(old_job)
    announce()


def cancel_announcement(post_id: int) -> None:
    if not mail_enabled():
        return
    job_id = get_data().announcements.cancel(post_id)
    if job_id:
        remove_job(job_id)


def wants_announcement(post: Post, announcement: Announcement | None) -> bool:
    """The editor's checkbox for an existing post: on while an announcement is planned,
    and for posts readers cannot see yet; off for posts already out (editing an old post
    must not mail it to everyone)."""
    if announcement is not None and announcement.state == "scheduled":
        return True
    return not post.is_visible(time.time())


def request_confirmation(email: str) -> None:
    data = get_data()
    if data.subscribers.subscribe(email, time.time()) and data.mail.cooldown(
        "confirm", email, CONFIRMATION_COOLDOWN
    ):
        enqueue_mail(
            "jobs.mail.send_confirmation", email, description="Confirmation mail to a reader"
        )


def notify_comment(post_id: int) -> None:
    """A comment arrived (or waits for moderation): its author hears of it, at most once
    per post per 10 minutes; comments during the cool-down join the next notice."""
    if not mail_enabled():
        return
    at = get_data().mail.comment_notice_due(post_id, time.time(), COMMENT_NOTICE_COOLDOWN)
    if at is not None:
        enqueue_mail(
            "jobs.mail.notify_comments",
            post_id,
            at=at,
            job_id=f"comment-notice-{post_id}-{int(at * 1000)}",
            description=f"Comment notice for post {post_id}",
        )


def request_password_reset(user_id: int) -> None:
    enqueue_mail(
        "jobs.mail.send_password_reset", user_id, description="Password reset link to an author"
    )
