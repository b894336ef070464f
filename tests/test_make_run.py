"""`make run`'s process manager: Redis, web, worker and scheduler up; Ctrl-C stops all;
the next start finds the data again."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from blog.data import DataLayer, PostInput, connect
from devtools.redis_server import free_port
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def start(var_dir, port: int, log) -> subprocess.Popen:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REDIS_", "S3_", "MEDIA_", "BACKUP_", "SECRET_KEY", "APP_ENV"))
    }
    env.update(BLOG_VAR_DIR=str(var_dir), PORT=str(port), PYTHONUNBUFFERED="1")
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
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
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


def run_once(var_dir, port: int, while_up=None) -> str:
    """Start, wait until web, worker and scheduler answer, run `while_up(output so far)`,
    then Ctrl-C (SIGINT to the whole process group, as a terminal does); the output."""
    log_path = var_dir.parent / f"run-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        process = start(var_dir, port, log)
        try:
            assert wait_until_up(port)["redis"] == "ok"
            if while_up:
                while_up(log_path.read_text())
        finally:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=60)
    return log_path.read_text()


def write_a_post(output: str) -> None:
    url = re.search(r"Redis \(persistent.*\) at (redis://\S+)", output).group(1)
    data = DataLayer(connect(url), "blog:")
    author = data.users.create("alice", "long enough password")
    data.posts.create(
        author.id,
        author.username,
        PostInput(title="Survives restarts", body="x", tags=[], status="published"),
    )


def home_shows_the_post(port: int):
    def check(output: str) -> None:
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
