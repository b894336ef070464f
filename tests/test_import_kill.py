"""A worker killed with SIGKILL in the middle of an import: the job is retried (RQ's
Retry on the `documents` queue) and finishes with every post and comment exactly once.

As in tests/test_worker_kill.py, the dead worker's expired heartbeat is simulated by
calling the StartedJobRegistry cleanup a live worker runs, with the clock advanced;
everything else is real (worker processes, Redis, media storage)."""

from __future__ import annotations

import signal
import time

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from bench.wxr import write_wxr
from blog.data.keys import Keys
from tests.helpers import kill_hard, start_worker, wait_for
from tests.invariants import assert_consistent

pytestmark = pytest.mark.slow

POSTS = 1500
COMMENTS = 2


def test_killed_mid_import_finishes_without_duplicates(
    client, auth, data, redis_client, redis_url, worker_env, tmp_path
):
    auth.login()
    path = tmp_path / "many.xml"
    with path.open("w", encoding="utf-8") as f:
        write_wxr(f, POSTS, paragraphs=2, comments=COMMENTS)
    with path.open("rb") as f:
        assert client.post("/import", data={"file": (f, "many.xml")}).status_code == 302
    owner = data.users.by_username("alice")
    job_id = data.imports.latest(owner.id)["job_id"]
    rq_redis = redis.Redis.from_url(redis_url)
    job = Job.fetch(job_id, connection=rq_redis)

    first = start_worker(worker_env, queue="documents")
    try:
        wait_for(lambda: (job.get_meta(refresh=True).get("done") or 0) >= POSTS // 5, timeout=120)
        kill_hard(first.pid)
    finally:
        if first.poll() is None:
            first.kill()
    imported_before = len(data.posts.by_author(owner.id))
    assert 0 < imported_before < POSTS
    assert job.get_status(refresh=True) == JobStatus.STARTED  # orphaned, not lost

    StartedJobRegistry(queue=Queue("documents", connection=rq_redis)).cleanup(
        timestamp=time.time() + 3600
    )
    assert job.get_status(refresh=True) in (JobStatus.SCHEDULED, JobStatus.QUEUED)
    second = start_worker(worker_env, "--with-scheduler", queue="documents")
    try:  # the retry is due after its 10 s backoff
        wait_for(
            lambda: job.get_status(refresh=True) == JobStatus.FINISHED, timeout=300, interval=0.5
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    titles = [p.title for p in data.posts.by_author(owner.id)]
    assert len(titles) == len(set(titles)) == POSTS
    keys = Keys("blog:")
    assert redis_client.hlen(keys.imported) == POSTS * (1 + COMMENTS)
    report = data.imports.latest(owner.id)["report"]
    assert report["posts"] + report["already"].get("posts", 0) == POSTS
    assert report["already"]["posts"] >= imported_before - 1
    total_comments = sum(p.comment_count for p in data.posts.by_author(owner.id))
    assert total_comments == POSTS * COMMENTS
    assert_consistent(redis_client)
