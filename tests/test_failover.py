"""Redis Sentinel failover under load, with real processes on free ports.

One primary, one replica and three sentinels (`redis-server --sentinel`); the Procfile's
web, worker and scheduler under honcho, configured only by REDIS_SENTINELS,
REDIS_SENTINEL_MASTER and REDIS_SENTINEL_PASSWORD (REDIS_URL points nowhere). While
visitors read pages and post comments and an author uploads photos, the primary is
SIGKILLed. What is promised (docs/deploy.md) and checked here:

- the blog answers page views again within 30 s, without restarting anything;
- every comment answered with success, before or after the kill, is there afterwards
  (REDIS_WAIT_REPLICAS=1: the answer waits for the replica's acknowledgement);
- every upload answered 202 becomes ready.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

from devtools.redis_server import find_redis_server, free_port
from tests.helpers import FIXTURES, ROOT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
PASSWORD = "a long failover password"
SENTINEL_PASSWORD = "sentinel-secret-for-tests"
MASTER = "blogprimary"
RECOVERY_LIMIT = 30.0


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.ConnectionError, redis.RedisError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class RedisNodes:
    """The primary, its replica and three sentinels, each a redis-server child process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.processes: dict[str, subprocess.Popen] = {}
        self.primary_port, self.replica_port = free_port(), free_port()
        self.sentinel_ports = [free_port() for _ in range(3)]

    def _start(self, name: str, args: list[str]) -> None:
        log = open(self.directory / f"{name}.log", "ab")  # noqa: SIM115  (the child's)
        self.processes[name] = subprocess.Popen(
            [find_redis_server(), *args], stdout=log, stderr=subprocess.STDOUT
        )

    def _node_args(self, name: str, port: int) -> list[str]:
        work = self.directory / name
        work.mkdir()
        return [
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work),
            "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
        ]  # fmt: skip

    def start(self) -> RedisNodes:
        self._start("primary", self._node_args("primary", self.primary_port))
        self._start(
            "replica",
            [
                *self._node_args("replica", self.replica_port),
                "--replicaof", "127.0.0.1", str(self.primary_port),
            ],
        )  # fmt: skip
        for number, port in enumerate(self.sentinel_ports):
            config = self.directory / f"sentinel-{number}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.directory}\n"
                f"requirepass {SENTINEL_PASSWORD}\n"
                f"sentinel sentinel-pass {SENTINEL_PASSWORD}\n"
                f"sentinel monitor {MASTER} 127.0.0.1 {self.primary_port} 2\n"
                f"sentinel down-after-milliseconds {MASTER} 1000\n"
                f"sentinel failover-timeout {MASTER} 10000\n"
            )
            self._start(f"sentinel-{number}", [str(config), "--sentinel"])
        replica = redis.Redis(port=self.replica_port)
        wait_for(lambda: replica.info("replication")["master_link_status"] == "up", 30, "sync")
        for port in self.sentinel_ports:
            sentinel = redis.Redis(port=port, password=SENTINEL_PASSWORD, decode_responses=True)
            wait_for(
                lambda s=sentinel: (
                    s.execute_command("SENTINEL", "REPLICAS", MASTER)
                    and int(s.sentinel_master(MASTER)["num-other-sentinels"]) == 2
                ),
                60,
                "sentinels to find the replica and each other",
            )
        return self

    def primary_address(self) -> tuple[str, int]:
        sentinel = redis.Redis(port=self.sentinel_ports[0], password=SENTINEL_PASSWORD)
        host, port = sentinel.sentinel_get_master_addr_by_name(MASTER)
        return host, int(port)

    def kill_primary(self) -> None:
        self.processes["primary"].send_signal(signal.SIGKILL)
        self.processes["primary"].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def nodes(tmp_path):
    started = RedisNodes(tmp_path).start()
    yield started
    started.stop()


def token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def run_cli(env: dict, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        input=stdin,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Traffic:
    """What each stream of requests saw: start time (views: and end time), status, and
    what was accepted."""

    base: str
    stop: threading.Event = field(default_factory=threading.Event)
    views: list[tuple[float, float, int]] = field(default_factory=list)
    comments: list[tuple[float, str, int]] = field(default_factory=list)
    uploads: list[tuple[float, dict | None, int]] = field(default_factory=list)

    def _request(self, session: requests.Session, method: str, path: str, **kw) -> int | None:
        try:
            return session.request(method, self.base + path, timeout=15, **kw)
        except requests.RequestException:
            return None

    def view(self, slug: str) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            for path in ("/", f"/posts/{slug}"):
                started = time.monotonic()
                response = self._request(session, "GET", path)
                status = response.status_code if response is not None else 0
                self.views.append((started, time.monotonic(), status))
            time.sleep(0.05)

    def comment(self, slug: str) -> None:
        session = requests.Session()
        csrf = token(session.get(f"{self.base}/posts/{slug}", timeout=15).text)
        while not self.stop.is_set():
            body = f"comment {uuid.uuid4().hex}"
            started = time.monotonic()
            response = self._request(
                session,
                "POST",
                f"/posts/{slug}/comments",
                data={"csrf_token": csrf, "name": "Visitor", "body": body},
                allow_redirects=False,
            )
            self.comments.append(
                (started, body, response.status_code if response is not None else 0)
            )
            time.sleep(0.2)

    def upload(self, session: requests.Session, csrf: str, photo: bytes) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            response = self._request(
                session,
                "POST",
                "/uploads",
                files={"image": ("photo.jpg", photo)},
                headers={"X-CSRFToken": csrf},
            )
            status = response.status_code if response is not None else 0
            self.uploads.append((started, response.json() if status == 202 else None, status))
            time.sleep(0.5)


MONITOR_TOKEN = "failover-test-monitor-token"
MONITOR = {"Authorization": f"Bearer {MONITOR_TOKEN}"}


def blog_env(nodes: RedisNodes, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "BACKUP_", "REDIS"))}
    env.update(
        PORT=str(free_port()),
        # Nothing listens here: every process must find the primary through the sentinels.
        REDIS_URL="redis://127.0.0.1:1/0",
        REDIS_SENTINELS=",".join(f"127.0.0.1:{p}" for p in nodes.sentinel_ports),
        REDIS_SENTINEL_MASTER=MASTER,
        REDIS_SENTINEL_PASSWORD=SENTINEL_PASSWORD,
        REDIS_WAIT_REPLICAS="1",
        APP_ENV="development",
        SECRET_KEY="f" * 64,
        HEALTHZ_TOKEN=MONITOR_TOKEN,  # /healthz details (issue 9)
        COMMENTS_PER_MINUTE="1000",
        PAGE_CACHE_SECONDS="0",
        WEB_CONCURRENCY="2",
        MEDIA_ROOT=str(tmp_path / "media"),
        BACKUP_ROOT=str(tmp_path / "backups"),
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_traffic(base: str, author: requests.Session, slug: str) -> tuple[Traffic, list]:
    traffic = Traffic(base)
    csrf = token(author.get(f"{base}/posts/new").text)
    photo = (FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg").read_bytes()
    threads = [
        threading.Thread(target=traffic.view, args=(slug,)),
        threading.Thread(target=traffic.comment, args=(slug,)),
        threading.Thread(target=traffic.upload, args=(author, csrf, photo)),
    ]
    for thread in threads:
        thread.start()
    return traffic, threads


def log_in_and_post(base: str) -> requests.Session:
    author = requests.Session()
    page = author.get(f"{base}/login").text
    logged_in = author.post(
        f"{base}/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token(page)},
        allow_redirects=False,
    )
    assert logged_in.status_code == 302, logged_in.text
    editor = author.get(f"{base}/posts/new").text
    posted = author.post(
        f"{base}/posts/new",
        data={
            "csrf_token": token(editor),
            "title": "Failover",
            "tags": "redis",
            "status": "published",
            "body": "Still here.",
        },
    )
    assert posted.ok and posted.url.endswith("/posts/failover"), posted.text
    return author


def test_primary_killed_under_load(nodes, tmp_path):
    env = blog_env(nodes, tmp_path)
    release = run_cli(env, "release")
    assert release.returncode == 0, release.stderr
    created = run_cli(env, "create-user", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr

    log = open(tmp_path / "honcho.log", "w")  # noqa: SIM115  (closed in finally)
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile", "start", "web", "worker", "scheduler"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{env['PORT']}"
    traffic = None
    try:
        wait_for(
            lambda: (
                (h := requests.get(f"{base}/healthz", timeout=5, headers=MONITOR).json())["workers"]
                >= 1
                and h["scheduler"] == "ok"
            ),
            60,
            "the web, a worker and the scheduler",
        )
        author = log_in_and_post(base)
        traffic, threads = start_traffic(base, author, "failover")
        wait_for(
            lambda: (
                sum(s == 302 for *_, s in traffic.comments) >= 5
                and sum(s == 202 for *_, s in traffic.uploads) >= 3
            ),
            60,
            "comments and uploads before the kill",
        )
        old_primary = nodes.primary_address()
        killed_at = time.monotonic()
        nodes.kill_primary()

        # Requests that meet the dead primary wait (the client asks the sentinels again)
        # or get a 503; the first page view sent after the kill and answered 200 marks
        # the recovery, at the moment its answer arrived.
        recovered_at = wait_for(
            lambda: next((e for t, e, s in traffic.views if t > killed_at and s == 200), None),
            RECOVERY_LIMIT + 15,
            "a page view answered after the kill",
        )
        wait_for(  # some traffic on the new primary too
            lambda: (
                sum(t > recovered_at and s == 200 for t, _, s in traffic.views) >= 10
                and any(t > recovered_at for t, *_ in traffic.comments)
            ),
            60,
            "page views and a comment on the new primary",
        )
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=30)

        assert nodes.primary_address() != old_primary
        assert recovered_at - killed_at < RECOVERY_LIMIT
        page = requests.get(f"{base}/posts/failover", timeout=15).text
        saved = [body for _, body, status in traffic.comments if status == 302]
        before = [body for t, body, status in traffic.comments if status == 302 and t < killed_at]
        assert len(before) >= 5
        missing = [body for body in saved if body not in page]
        assert not missing, f"{len(missing)} of {len(saved)} confirmed comments lost"
        # Anything that was not a success is an honest "try again": 503, never a 500.
        assert {s for *_, s in traffic.comments} <= {302, 503, 0}
        accepted = [image for _, image, status in traffic.uploads if status == 202]
        assert sum(t < killed_at for t, _, s in traffic.uploads if s == 202) >= 3

        def all_ready() -> bool:
            states = [author.get(base + i["status_url"], timeout=15).json() for i in accepted]
            return all(s["status"] == "ready" for s in states)

        # A job cut off by the kill is retried once rq sees its worker's heartbeat lapse.
        wait_for(all_ready, 180, f"all {len(accepted)} accepted uploads to become ready")
        print(
            f"\nfailover: page views answered again {recovered_at - killed_at:.1f} s after the "
            f"kill; {len(saved)} comments confirmed ({len(before)} before the kill), all kept; "
            f"{len(accepted)} uploads accepted, all ready; statuses: comments "
            f"{sorted({s for *_, s in traffic.comments})}, "
            f"views {sorted({s for *_, s in traffic.views})}"
        )
        dashboard = author.get(f"{base}/admin/jobs/", timeout=15)
        assert dashboard.status_code == 200
    finally:
        if traffic is not None:
            traffic.stop.set()
        os.killpg(honcho.pid, signal.SIGTERM)
        honcho.wait(timeout=60)
        log.close()
