"""Mail benchmark: one announcement to 10,000 confirmed subscribers through a local SMTP
sink (aiosmtpd) with one real `rq worker`, against a naive baseline in the same run.

* batched: the blog's own path (jobs.mail: one `announce_post` job, then chained batches
  of MAIL_BATCH_SIZE addresses, one SMTP connection a batch, the exactly-once record
  checked and written per message), MAIL_RATE_PER_SECOND=0 (no provider limit);
* naive: one RQ job and one new SMTP connection per message (the same message builder),
  over the first BASELINE addresses (10,000 would take minutes at ~50 jobs/s).

Reported: messages per second of both and their ratio; seconds from publish (enqueue)
to the first message; the worker's peak memory (VmHWM of the worker and every work
horse, sampled) at 10,000 and at 20,000 subscribers, and their ratio (goal <= 1.1).

    .venv/bin/python bench/mail.py [--subscribers 10000] [--baseline 1000]

BENCH_WORKER_LOG=path keeps the worker's log (one line per job, with its duration).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the worker imports bench.mail from here

SECRET = "bench-secret-key-0123456789abcdef"
SITE = "https://blog.example"


# ---- the naive baseline's job (imported by the worker as bench.mail.naive_send) ----------


def naive_send(post_id: int, email: str) -> str:
    """One message, one connection, one job: what a first version usually does."""
    from blog.mailer import SmtpSession, SmtpSettings
    from jobs.context import data_layer, settings
    from jobs.mail import _envelope, _summary, _tokens
    from processing.mail import announcement_message

    post = data_layer().posts.get(post_id)
    message = announcement_message(_envelope(), email, _summary(post), _tokens().unsubscribe(email))
    with SmtpSession(SmtpSettings.from_config(settings())) as smtp:
        return smtp.send(message, email).status


# ---- the SMTP sink: counts arrivals -----------------------------------------------------


class Counting:
    def __init__(self) -> None:
        self.count = 0
        self.first: float | None = None
        self.last: float | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        now = time.monotonic()
        with self.lock:
            self.count += len(envelope.rcpt_tos)
            self.first = self.first or now
            self.last = now
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.count, self.first, self.last = 0, None, None


# ---- worker memory -------------------------------------------------------------------------


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class PeakMemory(threading.Thread):
    """Highest peak RSS (VmHWM) of the worker or any of its forked work horses."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        while not self.done.is_set():
            try:
                pids = [self.pid, *(c.pid for c in root.children(recursive=True))]
            except psutil.NoSuchProcess:
                return
            self.peak_kb = max(self.peak_kb, *(_hwm_kb(p) for p in pids))
            time.sleep(0.01)


# ---- one run ------------------------------------------------------------------------------


def start_worker(env: dict[str, str], redis_url: str) -> subprocess.Popen:
    from redis import Redis
    from rq import Worker

    log = Path(os.environ.get("BENCH_WORKER_LOG", os.devnull))
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "rq"),
                "worker",
                "--url",
                redis_url,
                "--worker-class",
                "jobs.worker.BlogWorker",
                "mail",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    while not any(w.pid == process.pid for w in Worker.all(connection=connection)):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the rq worker did not start")
        time.sleep(0.05)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(timeout=30)


def seed(data, count: int) -> None:
    now = time.time()
    for i in range(count):
        email = f"reader{i:06d}@example.com"
        data.subscribers.subscribe(email, now)
        data.subscribers.confirm(email, now)


def wait_count(sink: Counting, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sink.count < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sink.count} of {expected} messages arrived")
        time.sleep(0.02)


def batched_run(app, data, sink, env, redis_url, subscribers: int) -> dict:
    from blog.data import PostInput
    from blog.newsletter.announce import plan_announcement

    data.redis.flushall()
    seed(data, subscribers)
    author = data.users.create("bench", "a long password")
    post = data.posts.create(author.id, "bench", PostInput("Hello", "Some *text*", [], "published"))
    sink.reset()
    worker = start_worker(env, redis_url)
    memory = PeakMemory(worker.pid)
    memory.start()
    try:
        start = time.monotonic()
        with app.test_request_context():
            plan_announcement(post, True)
        wait_count(sink, subscribers, timeout=1800)
        elapsed = sink.last - start
        first = sink.first - start
    finally:
        memory.done.set()
        memory.join()
        stop(worker)
    return {
        "subscribers": subscribers,
        "seconds": elapsed,
        "per_second": subscribers / elapsed,
        "first_message_s": first,
        "peak_mb": memory.peak_kb / 1024,
        "post_id": post.id,
    }


def naive_run(sink, env, redis_url, post_id: int, count: int) -> dict:
    from rq import Queue

    from blog.queues import rq_connection

    queue = Queue("mail", connection=rq_connection(redis_url))
    jobs = [
        Queue.prepare_data("bench.mail.naive_send", (post_id, f"reader{i:06d}@example.com"))
        for i in range(count)
    ]
    sink.reset()
    worker = start_worker(env, redis_url)
    try:
        start = time.monotonic()
        queue.enqueue_many(jobs)
        wait_count(sink, count, timeout=1800)
        elapsed = sink.last - start
    finally:
        stop(worker)
    return {"messages": count, "seconds": elapsed, "per_second": count / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    args = parser.parse_args()
    if not 100 <= args.subscribers <= 200_000 or not 10 <= args.baseline <= args.subscribers:
        parser.error("--subscribers 100..200000, --baseline 10..subscribers")

    from aiosmtpd.controller import Controller

    from blog import create_app
    from devtools.redis_server import RedisServer, free_port

    with tempfile.TemporaryDirectory() as tmp:
        redis_server = RedisServer(Path(tmp), persistent=False).start()
        sink = Counting()
        smtp_port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        mail = {
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp_port),
            "MAIL_DEFAULT_SENDER": "news@blog.example",
            "MAIL_RATE_PER_SECOND": "0",
            "SITE_URL": SITE,
        }
        env = {
            **os.environ,
            **mail,
            "REDIS_URL": redis_server.url,
            "SECRET_KEY": SECRET,
            "APP_ENV": "testing",
            "PYTHONPATH": str(ROOT),
        }
        app = create_app(
            {
                "TESTING": True,
                "APP_ENV": "testing",
                "REDIS_URL": redis_server.url,
                "SECRET_KEY": SECRET,
                **mail,
            }
        )
        data = app.extensions["blog_data"]
        try:
            small = batched_run(app, data, sink, env, redis_server.url, args.subscribers)
            naive = naive_run(sink, env, redis_server.url, small["post_id"], args.baseline)
            large = batched_run(app, data, sink, env, redis_server.url, 2 * args.subscribers)
        finally:
            controller.stop()
            redis_server.stop()

    print("| path | messages | seconds | messages/s | first message s | worker peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for run in (small, large):
        print(
            f"| batched (jobs.mail) | {run['subscribers']:,} | {run['seconds']:.1f} | "
            f"{run['per_second']:.0f} | {run['first_message_s']:.2f} | {run['peak_mb']:.0f} |"
        )
    print(
        f"| naive (1 job + 1 connection each) | {naive['messages']:,} | "
        f"{naive['seconds']:.1f} | {naive['per_second']:.0f} | | |"
    )
    print(f"\nthroughput ratio batched / naive: {small['per_second'] / naive['per_second']:.1f}x")
    print(
        f"peak memory ratio {large['subscribers']:,} / {small['subscribers']:,}: "
        f"{large['peak_mb'] / small['peak_mb']:.2f} (goal <= 1.1)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
