"""The `scheduler` process: `python -m jobs.scheduler [--burst] [--interval SECONDS]`.

Runs in UTC (TZ=UTC, set before anything reads the clock): rq-scheduler reads cron
strings in the process's local time zone, so BACKUP_CRON="0 3 * * *" means 03:00 UTC
whatever the host's zone. It syncs the nightly backup's cron job (BACKUP_CRON, fixed
job id) and the hourly cleanup of exported documents, then runs rq-scheduler's loop,
which moves due jobs to their queues. Two of these processes never enqueue a job twice:
rq-scheduler takes a lock in Redis for each pass. `--burst` enqueues what is due once,
then exits (tests, one-off runs).
"""

from __future__ import annotations

import os
import time

os.environ["TZ"] = "UTC"
time.tzset()

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402

import redis  # noqa: E402

from blog import logs  # noqa: E402
from blog.backups.schedule import (  # noqa: E402
    IMAGE_CLEANUP,
    BadCron,
    next_run,
    registered,
    scheduler_for,
    sync_schedule,
)
from blog.data import SentinelSettings  # noqa: E402
from blog.exports.schedule import CLEANUP_CRON, sync_cleanup_schedule  # noqa: E402
from blog.queues import rq_connection  # noqa: E402

from .context import JOB_REDIS_TIMEOUT, settings  # noqa: E402

log = logging.getLogger("jobs.scheduler")
RECONNECT_DELAY = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.scheduler",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--burst", action="store_true", help="enqueue the jobs that are due, then exit"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=60.0,
        help="seconds between two looks for due jobs (default 60)",
    )
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error("--interval must be a positive number of seconds")

    logs.configure()  # one line per event on stdout, as every process of the blog
    config = settings()
    connection = rq_connection(
        config["REDIS_URL"], SentinelSettings.from_config(config), timeout=JOB_REDIS_TIMEOUT
    )
    try:
        job, changed = sync_schedule(connection, config["BACKUP_CRON"])
    except BadCron as error:
        print(f"BACKUP_CRON: {error}", file=sys.stderr)
        return 2
    _, when = registered(connection) or (job, next_run(config["BACKUP_CRON"]))
    log.info(
        "nightly backup %s: %s UTC, next run %s",
        "registered" if changed else "unchanged",
        config["BACKUP_CRON"],
        when.isoformat(),
    )
    try:
        _, changed = sync_schedule(connection, config["IMAGE_CLEANUP_CRON"], IMAGE_CLEANUP)
    except BadCron as error:
        print(f"IMAGE_CLEANUP_CRON: {error}", file=sys.stderr)
        return 2
    log.info(
        "unused image cleanup %s: %s UTC",
        "registered" if changed else "unchanged",
        config["IMAGE_CLEANUP_CRON"],
    )
    changed = sync_cleanup_schedule(connection)
    log.info("export cleanup %s: %s", "registered" if changed else "unchanged", CLEANUP_CRON)
    run_through_failovers(connection, args.interval, args.burst)
    return 0


def run_through_failovers(connection: redis.Redis, interval: float, burst: bool) -> None:
    """rq-scheduler's loop ends at the first lost connection (a Redis restart, a Sentinel
    failover); start a fresh one - under a new name, as the old one may still look alive
    in Redis - once Redis answers again, instead of taking the whole process down."""
    while True:
        try:
            scheduler_for(connection, interval=interval).run(burst=burst)
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError) as error:
            log.warning("Redis unavailable (%s); starting again in %d s", error, RECONNECT_DELAY)
            time.sleep(RECONNECT_DELAY)


if __name__ == "__main__":
    sys.exit(main())
