"""Shared fixtures, in the style of Flask's tutorial: app, client, runner, auth.

A real redis-server is started once per test session on a free port in a temporary
directory; every test starts from an empty database.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import redis

from devtools.redis_server import RedisServer
from tests.helpers import PASSWORD, ROOT, RQ, S3_CREDENTIALS, make_app

# Apps made from the environment (and the servers tests start) share no pages through
# /dev/shm: tests that share pages say where, in their own temporary directory.
os.environ.setdefault("PAGE_CACHE_DIR", "")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server) -> str:
    return redis_server.url


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def media_root(tmp_path) -> Path:
    return tmp_path / "media"


@pytest.fixture
def app(redis_url, redis_client, media_root):
    return make_app(redis_url, MEDIA_ROOT=str(media_root))


@pytest.fixture
def csrf_app(redis_url, redis_client, media_root):
    """The app with CSRF protection on, as in production."""
    return make_app(redis_url, WTF_CSRF_ENABLED=True, MEDIA_ROOT=str(media_root))


@pytest.fixture
def worker_env(redis_url, media_root) -> dict[str, str]:
    """The environment a worker process gets: the same settings as the app under test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("S3_", "AWS_", "MEDIA_", "KEY_PREFIX", "REDIS_"))
    }
    env.update(REDIS_URL=redis_url, MEDIA_ROOT=str(media_root), KEY_PREFIX="blog:")
    return env


@pytest.fixture
def burst_worker(worker_env):
    """Run a real `rq worker --burst` process: it works through the queues, then exits."""

    def run(*queues: str, env: dict | None = None, timeout: float = 60) -> str:
        result = subprocess.run(
            [
                RQ,
                "worker",
                "--burst",
                "--worker-class",
                "jobs.worker.BlogWorker",
                "--url",
                worker_env["REDIS_URL"],
                *(queues or ["images"]),
            ],
            cwd=ROOT,
            env=env or worker_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, result.stderr
        return result.stderr + result.stdout

    return run


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def data(app):
    return app.extensions["blog_data"]


class AuthActions:
    """Create authors and log in or out as one of them."""

    def __init__(self, app, client) -> None:
        self._app = app
        self._client = client

    def create(self, username: str = "alice", password: str = PASSWORD):
        return self._app.extensions["blog_data"].users.create(username, password)

    def login(self, username: str = "alice", password: str = PASSWORD, create: bool = True):
        if create and self._app.extensions["blog_data"].users.by_username(username) is None:
            self.create(username, password)
        return self._client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API over HTTP (moto's server mode), shared by the session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch, request) -> str:
    """A fresh, empty bucket for one test; boto3 finds the credentials in the environment."""
    import boto3

    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-") + "-bucket"
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_settings(s3_endpoint, s3_bucket) -> dict[str, str]:
    return {"S3_BUCKET": s3_bucket, "S3_ENDPOINT_URL": s3_endpoint, "S3_PREFIX": "blog"}
