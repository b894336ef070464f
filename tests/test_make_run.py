"""`make run`'s process manager: Redis, web, worker and scheduler up; Ctrl-C stops all;
the next start finds the data again."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from blog.data import DataLayer, PostInput, connect
from devtools.redis_server import free_port
from devtools.run import free_port_near
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


MONITOR = "make-run-test-monitor-token"  # /healthz details need it


def start(var_dir, port: int, log) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "S3_", "MEDIA_", "BACKUP_", "SECRET_KEY", "APP_ENV"))
    }
    env.update(
        BLOG_VAR_DIR=str(var_dir), PORT=str(port), PYTHONUNBUFFERED="1", HEALTHZ_TOKEN=MONITOR
    )
    return subprocess.Popen(
        [sys.executable, "-m", "devtools.run"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def healthz(port: int) -> dict | None:
    import json

    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/healthz", headers={"Authorization": f"Bearer {MONITOR}"}
        )
        with urllib.request.urlopen(request, timeout=2) as r:
            return json.load(r)
    except OSError:
        return None


def wait_until_up(port: int) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = healthz(port)
        if body and body["workers"] >= 1 and body["scheduler"] == "ok":
            return body
        time.sleep(0.3)
    raise AssertionError("make run did not bring web, worker and scheduler up")


def run_once(var_dir, port: int, while_up=None, stop_signal=signal.SIGINT, group=True) -> str:
    """Start, wait until web, worker and scheduler answer, run `while_up(log path)`,
    then Ctrl-C (SIGINT to the whole process group, as a terminal does); the output.
    Ctrl-C is a normal way to stop: exit status 0."""
    log_path = var_dir.parent / f"run-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        process = start(var_dir, port, log)
        try:
            assert wait_until_up(port)["redis"] == "ok"
            if while_up:
                while_up(log_path)
        finally:
            if group:
                os.killpg(process.pid, stop_signal)
            else:
                process.send_signal(stop_signal)
            process.wait(timeout=60)
    output = log_path.read_text()
    assert process.returncode == 0, output
    return output


def write_a_post(log_path: Path) -> None:
    url = re.search(r"Redis \(persistent.*\) at (redis://\S+)", log_path.read_text()).group(1)
    data = DataLayer(connect(url), "blog:")
    author = data.users.create("alice", "long enough password")
    data.posts.create(
        author.id,
        author.username,
        PostInput(title="Survives restarts", body="x", tags=[], status="published"),
    )


def home_shows_the_post(port: int):
    def check(log_path: Path) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert "Survives restarts" in response.read().decode()

    return check


def test_run_starts_everything_and_keeps_data_across_restarts(tmp_path):
    port, var_dir = free_port(), tmp_path / "var"
    output = run_once(var_dir, port, write_a_post)
    assert re.search(r"REDIS_URL=redis://\S+ \S*flask --app app create-user NAME", output)
    assert "Redis stopped; data kept" in output
    assert (var_dir / "redis" / "appendonlydir").is_dir()  # AOF persistence on
    assert (var_dir / "dev-secret-key").exists()
    assert healthz(port) is None  # everything stopped, web included

    output = run_once(var_dir, port, home_shows_the_post(port))
    assert "No author yet" not in output  # the author was kept too


def test_ctrl_c_stops_the_app_first_and_redis_last_without_a_traceback(tmp_path):
    port, var_dir = free_port(), tmp_path / "var"
    output = run_once(var_dir, port, address_printed_after_everything_is_up(port))
    assert "Traceback" not in output
    assert "Error" not in output
    # honcho reports each process stopping before Redis is stopped.
    honcho_stops = r"\b(web|worker|scheduler)\.1 stopped"
    stopped = [m.start() for m in re.finditer(honcho_stops, output)]
    assert len(stopped) >= 3, output
    assert max(stopped) < output.index("Redis stopped; data kept")


def test_a_plain_kill_stops_everything_in_order_too(tmp_path):
    port, var_dir = free_port(), tmp_path / "var"
    output = run_once(var_dir, port, stop_signal=signal.SIGTERM, group=False)
    assert "Traceback" not in output
    assert output.index("scheduler.1 stopped") < output.index("Redis stopped; data kept")
    assert healthz(port) is None


def address_printed_after_everything_is_up(port: int):
    def check(log_path: Path) -> None:
        deadline = time.monotonic() + 30
        while f"Blog running at http://127.0.0.1:{port}/" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        output = log_path.read_text()
        before = output[: output.index("Blog running at")]
        assert "Running on http://127.0.0.1" in before  # the web server
        assert "Listening on" in before or "*** Listening" in before  # the rq worker
        assert "nightly backup" in before  # the scheduler

    return check


def test_a_port_in_time_wait_is_kept(tmp_path):
    """A quick restart finds port 5000 in TIME_WAIT: still free for a server that binds
    with SO_REUSEADDR, so `make run` keeps its address."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end goes to TIME_WAIT
    client.close()
    server.close()
    assert free_port_near(port) == port

    with socket.socket() as holder:  # a port someone really holds is not taken
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        held = holder.getsockname()[1]
        assert free_port_near(held) != held
