"""Batched search indexing with real rq workers: a burst of writes costs one waiting
drain job, nothing written is ever left out of the index (a write during a drain, a
worker killed mid-drain, a lost job), and the drain's order of steps (docs/search.md).
"""

from __future__ import annotations

import time

import pytest
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from blog.data import PostInput
from blog.data.search import DRAIN_FLAG_SECONDS
from blog.search import service
from tests.helpers import add_post, kill_hard, new_post, start_worker, stop_worker, wait_for

PENDING, QUEUED = "blog:search:pending", "blog:search:queued"


@pytest.fixture
def alice(data):
    return data.users.create("alice", "password123")


def search_queue(app) -> Queue:
    return Queue("search", connection=app.extensions["rq_connection"])


def doc(data, post_id: int) -> dict[str, str]:
    """What the live index holds for a post (empty: not indexed)."""
    return data.redis.hgetall(f"blog:search:0:doc:{post_id}")


def up_to_date(data, post) -> bool:
    """The index holds the post at its latest version."""
    stored = data.redis.hget(f"blog:post:{post.id}", "updated_at")
    return doc(data, post.id).get("version") == stored


def draining_keys(data) -> list[str]:
    return list(data.redis.scan_iter(match="blog:search:draining:*"))


def titles_found(client, q: str) -> int:
    return client.get("/search", query_string={"q": q}).get_data(as_text=True).count("search-hit")


def test_a_burst_of_creates_enqueues_one_job_and_indexes_them_all(app, client, auth, burst_worker):
    auth.login()
    for i in range(50):
        assert new_post(client, title=f"Burst {i}", body=f"okapi facts {i}").status_code == 302
    queue = search_queue(app)
    assert 1 <= queue.count <= 2
    assert [j.func_name for j in queue.get_jobs()] == ["jobs.search.drain_pending"] * queue.count
    data = app.extensions["blog_data"]
    assert data.redis.scard(PENDING) == 50

    burst_worker("search")
    assert all(doc(data, post_id) for post_id in range(1, 51))
    assert titles_found(client, "okapi") == 10  # the first page of 50 hits
    assert "50 posts match" in client.get("/search?q=okapi").get_data(as_text=True)
    assert data.redis.scard(PENDING) == 0 and not data.redis.exists(QUEUED)
    assert draining_keys(data) == []


def test_the_drain_clears_the_flag_before_taking_ids(data, alice, monkeypatch):
    """A write after the drain's first step finds the flag free and enqueues the next
    drain: the order (flag first, then the ids) that keeps any id from being left."""
    add_post(data, alice, "Before")
    assert data.redis.exists(QUEUED)
    calls: list[int] = []
    real = service.index_post

    def index_and_write_meanwhile(d, post_id: int) -> str:
        if not calls:  # the drain runs: a write comes in
            assert not data.redis.exists(QUEUED)
            assert data.search.mark_pending([999]) is True  # it must enqueue a drain
        calls.append(post_id)
        return real(d, post_id)

    monkeypatch.setattr(service, "index_post", index_and_write_meanwhile)
    outcome = service.drain_pending(data, "in-process")
    # This drain took the late id too (it drains until the set is empty): harmless.
    assert calls == [1, 999] and outcome["indexed"] == 1 and outcome["removed"] == 1


def test_a_write_during_a_drain_is_indexed(app, data, alice, worker_env):
    """A post edited while a real worker drains (after its id was taken) ends up indexed
    at its edited version: the edit put it back in the pending set, and enqueued the
    next drain since the running one had cleared the flag."""
    posts = [
        add_post(data, alice, f"Post {i}", body=("ibex grazing on the hills " * 400) + str(i))
        for i in range(300)
    ]
    worker = start_worker(worker_env, queue="search")
    try:
        taken = wait_for(
            lambda: [m for k in draining_keys(data) for m in data.redis.smembers(k)],
            timeout=60,
            interval=0.005,
            what="a drain to take ids",
        )
        victim = next(p for p in posts if str(p.id) == taken[0])
        edited = data.posts.update(
            victim, PostInput(title=victim.title, body="narwhal edit", tags=[], status="published")
        )
        wait_for(
            lambda: all(up_to_date(data, p) for p in [*posts, edited]),
            timeout=120,
            interval=0.05,
            what="every post indexed at its latest version",
        )
    finally:
        stop_worker(worker)
    assert data.redis.exists("blog:search:0:term:narwhal")
    assert data.redis.zscore("blog:search:0:term:narwhal", edited.id) is not None
    assert data.redis.zscore("blog:search:0:term:ibex", edited.id) is None
    assert data.redis.scard(PENDING) == 0 and draining_keys(data) == []


@pytest.mark.slow
def test_a_worker_killed_mid_drain_loses_no_id(app, data, alice, worker_env):
    posts = [
        add_post(data, alice, f"Post {i}", body=("tapir tracks in mud " * 400) + str(i))
        for i in range(300)
    ]
    (job,) = search_queue(app).get_jobs()
    first = start_worker(worker_env, queue="search")
    try:
        wait_for(
            lambda: (
                any(data.redis.scard(k) for k in draining_keys(data))
                and any(doc(data, p.id) for p in posts)
            ),
            timeout=60,
            interval=0.005,
            what="a drain half done",
        )
        kill_hard(first.pid)
    finally:
        if first.poll() is None:
            first.kill()
    taken = sum(data.redis.scard(k) for k in draining_keys(data))
    assert taken + data.redis.scard(PENDING) > 0, "the kill came after the drain was done"
    assert not all(doc(data, p.id) for p in posts)
    assert job.get_status(refresh=True) == JobStatus.STARTED  # orphaned, not lost

    # What a live worker's maintenance does once the dead worker's heartbeat expires.
    registry = StartedJobRegistry(queue=search_queue(app))
    registry.cleanup(timestamp=time.time() + 3600)
    job.refresh()
    assert job.get_status() in (JobStatus.SCHEDULED, JobStatus.QUEUED)
    assert job.retries_left == 2

    second = start_worker(worker_env, "--with-scheduler", queue="search")
    try:
        wait_for(
            lambda: Job.fetch(job.id, connection=job.connection).get_status() == JobStatus.FINISHED,
            timeout=90,
            interval=0.1,
            what="the retried drain to finish",
        )
    finally:
        stop_worker(second)
    assert all(up_to_date(data, p) for p in posts)
    assert data.redis.scard(PENDING) == 0 and draining_keys(data) == []
    result = Job.fetch(job.id, connection=job.connection).return_value()
    assert result["retaken"] == taken  # what the killed try had taken, redone


def test_the_flag_expiring_recovers_a_lost_job(app, data, alice, burst_worker):
    first = add_post(data, alice, "Lost", body="quokka one")
    queue = search_queue(app)
    (job,) = queue.get_jobs()
    job.delete(remove_from_queue=True)  # lost: deleted in the dashboard, say
    second = add_post(data, alice, "Waiting", body="quokka two")
    assert queue.count == 0  # the flag says a drain is waiting: nothing enqueued
    assert 0 < data.redis.ttl(QUEUED) <= DRAIN_FLAG_SECONDS
    # Its expiry, brought forward (Redis expires it as it would after the minute).
    data.redis.pexpire(QUEUED, 1)
    wait_for(lambda: not data.redis.exists(QUEUED), timeout=5)

    third = add_post(data, alice, "Recovered", body="quokka three")
    assert queue.count == 1
    burst_worker("search")
    assert all(up_to_date(data, p) for p in (first, second, third))
    assert data.redis.zcard("blog:search:0:term:quokka") == 3


def test_a_drain_that_fails_gives_its_ids_back(data, alice, monkeypatch):
    """Redis trouble or the job's timeout mid-batch: the ids it had taken go back to the
    pending set (not the flag: a waiting drain's stays), for the retry or the next drain."""
    for i in range(3):
        add_post(data, alice, f"Post {i}")
    real = service.index_post

    def fail_on_the_second(d, post_id: int) -> str:
        if post_id == 2:
            data.redis.set(QUEUED, "1")  # a write meanwhile enqueued the next drain
            raise TimeoutError("Redis went away")
        return real(d, post_id)

    monkeypatch.setattr(service, "index_post", fail_on_the_second)
    with pytest.raises(TimeoutError):
        service.drain_pending(data, "failing")
    assert data.redis.smembers(PENDING) == {"1", "2", "3"}
    assert draining_keys(data) == [] and data.redis.exists(QUEUED)
