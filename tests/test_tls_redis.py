"""PaaS Redis over TLS with a self-signed certificate (rediss:// + REDIS_TLS_INSECURE)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
import redis

from blog.config import effective_redis_url
from devtools.redis_server import find_redis_server, free_port
from tests.helpers import ROOT, RQ, make_app


def test_effective_url_adds_the_switch_only_for_tls_urls():
    assert effective_redis_url("rediss://h:1/0", True) == "rediss://h:1/0?ssl_cert_reqs=none"
    assert (
        effective_redis_url("rediss://h:1/0?a=b", True) == "rediss://h:1/0?a=b&ssl_cert_reqs=none"
    )
    assert effective_redis_url("rediss://h:1/0", False) == "rediss://h:1/0"
    assert effective_redis_url("redis://h:1/0", True) == "redis://h:1/0"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A real redis-server speaking only TLS, with a throw-away self-signed certificate."""
    work = tmp_path_factory.mktemp("tls-redis")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(work / "key.pem"),
            "-out",
            str(work / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            find_redis_server(),
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            str(work / "cert.pem"),
            "--tls-key-file",
            str(work / "key.pem"),
            "--tls-ca-cert-file",
            str(work / "cert.pem"),
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--dir",
            str(work),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"rediss://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url + "?ssl_cert_reqs=none")
    for _ in range(100):
        if server.poll() is not None:
            pytest.skip("this redis-server has no TLS support")
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(timeout=10)


def test_self_signed_tls_redis_needs_the_switch(tls_redis, media_root, monkeypatch):
    monkeypatch.setenv("REDIS_URL", tls_redis)
    monkeypatch.delenv("REDIS_TLS_INSECURE", raising=False)
    strict = make_app(effective_redis_url(tls_redis, False), MEDIA_ROOT=str(media_root))
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        strict.extensions["blog_data"].ping()

    monkeypatch.setenv("REDIS_TLS_INSECURE", "1")
    from blog.config import from_environment

    url = from_environment()["REDIS_URL"]
    app = make_app(url, MEDIA_ROOT=str(media_root))
    assert app.extensions["blog_data"].ping()
    assert app.test_client().get("/").status_code == 200


def test_rq_worker_connects_through_rq_settings(tls_redis):
    env = {**os.environ, "REDIS_URL": tls_redis, "REDIS_TLS_INSECURE": "1"}
    result = subprocess.run(
        [RQ, "worker", "-c", "jobs.rq_settings", "--burst", "images"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Listening on images" in result.stdout + result.stderr
