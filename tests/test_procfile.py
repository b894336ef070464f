"""The production Procfile, run as a PaaS would: every process under honcho, S3 for media
and backups (moto's server over HTTP), the whole flow over HTTP, then SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import redis
import requests
from rq import Queue

from devtools.redis_server import free_port
from tests.helpers import FIXTURES, ROOT, S3_CREDENTIALS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]
BIN = Path(sys.executable).parent
PASSWORD = "a long production password"


def token(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (requests.ConnectionError, requests.Timeout):  # still booting, a loaded machine
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def paas_env(redis_url, redis_client, s3_endpoint, s3_bucket, tmp_path):
    """The environment a PaaS gives the processes. gunicorn serves HTTPS with a throw-away
    certificate (GUNICORN_CMD_ARGS), so production's Secure cookies work end to end."""
    port = free_port()
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
            "/CN=127.0.0.1",
            "-keyout",
            str(tmp_path / "key.pem"),
            "-out",
            str(tmp_path / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("S3_", "MEDIA_", "BACKUP_"))}
    env.update(S3_CREDENTIALS)
    env.update(
        PORT=str(port),
        REDIS_URL=redis_url,
        APP_ENV="production",
        TRUSTED_PROXIES="0",
        SECRET_KEY="p" * 64,
        HEALTHZ_TOKEN=MONITOR_TOKEN,
        S3_BUCKET=s3_bucket,
        S3_ENDPOINT_URL=s3_endpoint,
        S3_PREFIX="media",
        BACKUP_PREFIX="backups",
        WEB_CONCURRENCY="2",
        MEDIA_ROOT=str(tmp_path / "no-shared-disk"),
        BACKUP_ROOT=str(tmp_path / "no-disk"),
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PYTHONUNBUFFERED="1",
        GUNICORN_CMD_ARGS=f"--certfile={tmp_path / 'cert.pem'} --keyfile={tmp_path / 'key.pem'}",
    )
    return env


MONITOR_TOKEN = "monitor-token-for-the-procfile-test"


def browser_session(base: str) -> requests.Session:
    """Like a browser: it sends a same-origin Referer (Flask-WTF checks it over HTTPS)."""
    session = requests.Session()
    session.verify = False  # the test's self-signed certificate
    session.trust_env = False  # else a CA bundle named in the environment overrides verify
    session.headers["Referer"] = f"{base}/"
    return session


def login(session: requests.Session, base: str) -> None:
    page = session.get(f"{base}/login").text
    response = session.post(
        f"{base}/login",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token(page)},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    assert "Secure" in response.headers["Set-Cookie"]  # production cookies


def test_procfile_processes_run_the_whole_flow(
    paas_env, redis_url, s3_bucket, s3_endpoint, tmp_path
):
    release = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "release"],
        cwd=ROOT,
        env=paas_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert release.returncode == 0, release.stderr
    assert "backup schedule" in release.stdout
    created = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "create-user", "alice", "--password-stdin"],
        input=PASSWORD + "\n",
        cwd=ROOT,
        env=paas_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr

    log = open(tmp_path / "honcho.log", "w")  # noqa: SIM115  (closed in finally)
    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "-f", "Procfile", "start", "web", "worker", "scheduler"],
        cwd=ROOT,
        env=paas_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"https://127.0.0.1:{paas_env['PORT']}"
    anonymous = browser_session(base)
    monitor = browser_session(base)  # /healthz details need the token
    monitor.headers["Authorization"] = f"Bearer {MONITOR_TOKEN}"
    try:
        health = wait_for(
            lambda: (
                (r := monitor.get(f"{base}/healthz", timeout=5)).ok
                and r.json()["workers"] >= 1
                and r.json()["scheduler"] == "ok"
                and r.json()
            ),
            60,
            "/healthz with a worker and the scheduler",
        )
        assert health["redis"] == "ok"

        author = browser_session(base)
        login(author, base)
        editor = author.get(f"{base}/posts/new").text
        csrf = token(editor)
        photo = (FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg").read_bytes()
        upload = author.post(
            f"{base}/uploads",
            files={"image": ("DSCN0010.jpg", photo)},
            headers={"X-CSRFToken": csrf},
        )
        assert upload.status_code == 202, upload.text
        image = upload.json()
        assert anonymous.get(base + image["url"]).status_code == 404
        ready = wait_for(
            lambda: (s := author.get(base + image["status_url"]).json())["status"] == "ready" and s,
            30,
            "the image to be cleaned",
        )
        assert "GPS position" in ready["removed"]
        served = anonymous.get(base + image["url"])
        assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"

        post = author.post(
            f"{base}/posts/new",
            data={
                "csrf_token": csrf,
                "title": "From the Procfile",
                "tags": "paas, redis",
                "status": "published",
                "body": f"![A street]({image['url']})",
            },
        )
        assert post.status_code == 200 and post.url.endswith("/posts/from-the-procfile")

        visitor = browser_session(base)
        page = visitor.get(f"{base}/posts/from-the-procfile").text
        assert "srcset=" in page
        assert 'name="csrf_token"' not in page  # a visitor's page is shareable
        commented = visitor.post(
            f"{base}/posts/from-the-procfile/comments",
            data={"name": "Visitor", "body": "Works on a PaaS"},
            headers={"Origin": base},  # as a browser sends it
        )
        assert commented.ok and "Works on a PaaS" in commented.text

        backups = author.get(f"{base}/admin/backups").text
        assert author.post(f"{base}/admin/backups", data={"csrf_token": token(backups)}).ok
        s3 = boto3.client("s3", endpoint_url=s3_endpoint)

        def stored() -> list[str]:
            listing = s3.list_objects_v2(Bucket=s3_bucket, Prefix="backups/")
            return [o["Key"] for o in listing.get("Contents", []) if o["Key"].endswith(".tar.gz")]

        # The archive appears under its name only once complete (a multipart upload).
        backup = wait_for(stored, 60, "the backup object")
        assert len(backup) == 1
        wait_for(
            lambda: monitor.get(f"{base}/healthz").json()["backup"] == "ok",
            30,
            "the backup to be recorded",
        )
        assert stored() == backup
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)  # what the platform does on a restart
        honcho.wait(timeout=60)
        log.close()

    output = (tmp_path / "honcho.log").read_text()
    assert "web.1" in output and "worker.1" in output and "scheduler.1" in output
    # One line per event on stdout; the job's own lines carry its id.
    assert re.search(
        rf"worker\.1 .* jobs\.images job=clean-image-{image['id']}: image "
        rf"{image['id']} ready",
        output,
    )
    rq_redis = redis.Redis.from_url(redis_url)
    for name in ("images", "backups"):
        queue = Queue(name, connection=rq_redis)
        assert queue.count == 0 and queue.failed_job_registry.count == 0  # nothing lost
    data = redis.Redis.from_url(redis_url, decode_responses=True)
    assert data.hget("blog:slugs", "from-the-procfile")
    assert data.hget(f"blog:image:{image['id']}", "status") == "ready"
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}
    assert f"media/images/{image['id']}/original.jpg" in keys
    assert not any(k.startswith("media/incoming/") for k in keys)
    assert not (tmp_path / "no-shared-disk").exists()  # processes shared only S3 and Redis
