"""The nightly schedule: one cron job whatever happens, in UTC, one backup a night."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from rq import Queue

from blog.backups.schedule import (
    NIGHTLY_ENQUEUER,
    NIGHTLY_JOB_ID,
    BadCron,
    next_run,
    registered,
    scheduler_for,
    sync_schedule,
)
from blog.data import DataLayer
from tests.backup_helpers import env_with, outcome_json, run_worker
from tests.helpers import ROOT

PYTHON = sys.executable
RQSCHEDULER = str(Path(sys.executable).parent / "rqscheduler")


@pytest.fixture
def rq_conn(redis_url, redis_client):
    connection = redis.Redis.from_url(redis_url)  # RQ wants bytes replies
    yield connection
    connection.close()


def test_registering_twice_keeps_one_job_and_a_new_cron_replaces_it(rq_conn):
    scheduler = scheduler_for(rq_conn)
    first, changed_first = sync_schedule(rq_conn, "0 3 * * *")
    again, changed_again = sync_schedule(rq_conn, "0 3 * * *")
    assert (changed_first, changed_again) == (True, False)
    assert [job.id for job in scheduler.get_jobs()] == [NIGHTLY_JOB_ID]
    assert rq_conn.zcard(scheduler.scheduled_jobs_key) == 1
    job, when = registered(rq_conn)
    assert job.func_name == NIGHTLY_ENQUEUER and job.origin == "backups"
    assert when == next_run("0 3 * * *")
    assert (when.hour, when.minute, when.utcoffset().total_seconds()) == (3, 0, 0)

    # A re-sync with the same cron leaves the registration alone (a due run stays due).
    rq_conn.zadd(scheduler.scheduled_jobs_key, {NIGHTLY_JOB_ID: 1000})
    sync_schedule(rq_conn, "0 3 * * *")
    assert rq_conn.zscore(scheduler.scheduled_jobs_key, NIGHTLY_JOB_ID) == 1000

    changed, was_changed = sync_schedule(rq_conn, "30 2 * * 1")
    assert was_changed and changed.meta["cron_string"] == "30 2 * * 1"
    assert rq_conn.zcard(scheduler.scheduled_jobs_key) == 1
    assert registered(rq_conn)[1] == next_run("30 2 * * 1")
    assert registered(rq_conn)[1].weekday() == 0  # Monday, 02:30 UTC


def test_next_run_reads_cron_in_utc():
    now = datetime(2025, 3, 30, 2, 59, tzinfo=UTC)  # the night Europe moves its clocks
    assert next_run("0 3 * * *", now) == datetime(2025, 3, 30, 3, 0, tzinfo=UTC)
    assert next_run("0 3 * * *", datetime(2025, 3, 30, 3, 0, tzinfo=UTC)) == datetime(
        2025, 3, 31, 3, 0, tzinfo=UTC
    )


@pytest.mark.parametrize("cron", ["every night", "0 25 * * *", "61 * * * *", "* * *", ""])
def test_bad_cron_strings_are_refused_with_a_message(rq_conn, cron):
    with pytest.raises(BadCron, match="is not a valid cron expression"):
        sync_schedule(rq_conn, cron)
    assert registered(rq_conn) is None


def test_scheduler_process_refuses_a_bad_backup_cron(rq_conn, worker_env):
    result = subprocess.run(
        [PYTHON, "-m", "jobs.scheduler", "--burst"],
        cwd=ROOT,
        env=env_with(worker_env, BACKUP_CRON="0 25 * * *"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "BACKUP_CRON: '0 25 * * *' is not a valid cron expression" in result.stderr
    assert "out of range" in result.stderr
    assert registered(rq_conn) is None

    result = subprocess.run(
        [PYTHON, "-m", "jobs.scheduler", "--interval", "0"],
        cwd=ROOT,
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--interval must be a positive" in result.stderr


@pytest.mark.slow
def test_two_schedulers_and_rqscheduler_make_exactly_one_backup(
    rq_conn, redis_client, worker_env, tmp_path
):
    DataLayer(redis_client, "blog:").users.create("alice", "correct horse battery")
    # The processes' own zone is New York: the schedule must still be 03:00 UTC.
    env = env_with(worker_env, BACKUP_ROOT=tmp_path / "backups", TZ="America/New_York")
    scheduler = scheduler_for(rq_conn)
    sync_schedule(rq_conn, "0 3 * * *")
    # Make tonight's run due now (rather than wait for 03:00): its score is its time.
    rq_conn.zadd(scheduler.scheduled_jobs_key, {NIGHTLY_JOB_ID: time.time() - 5})

    schedulers = [
        subprocess.Popen(
            [PYTHON, "-m", "jobs.scheduler", "--burst", "--interval", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60)[0] for p in schedulers]
    assert [p.returncode for p in schedulers] == [0, 0], outputs
    assert sum("unchanged" in out for out in outputs) == 2  # nobody re-registered it
    real = subprocess.run(
        [RQSCHEDULER, "--burst", "--url", worker_env["REDIS_URL"], "--interval", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert real.returncode == 0, real.stderr

    assert Queue("backups", connection=rq_conn).get_job_ids() == [NIGHTLY_JOB_ID]
    _, when = registered(rq_conn)  # rescheduled by the scheduler process, in UTC
    assert when == next_run("0 3 * * *")

    worker = run_worker(env, "backups")  # the cron job enqueues the backup, which runs
    assert worker.returncode == 0, worker.stderr
    runs = outcome_json(redis_client)
    assert len(runs) == 1 and runs[0]["ok"] and runs[0]["trigger"] == "schedule", runs
    assert len(list((tmp_path / "backups").rglob("blog-*.tar.gz"))) == 1
    assert Queue("backups", connection=rq_conn).get_job_ids() == []
