"""/export end to end: the page, real `rq worker` processes on the `documents` queue,
the JSON status endpoint, downloads (local: streamed to the owner; S3 through moto: a
presigned link that expires in 10 minutes), "Cancel" mid-build, a worker killed
mid-build, two clicks at once, the scheduled cleanup, and backups that leave exports out.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from blog.data.keys import EXCLUDED, family_of
from tests.export_helpers import big_blog, make_blog
from tests.helpers import (
    PASSWORD,
    ROOT,
    S3_CREDENTIALS,
    kill_hard,
    make_app,
    start_worker,
    stop_worker,
    wait_for,
)

DOCUMENTS = "documents"


@pytest.fixture
def spool_dir(tmp_path) -> Path:
    return tmp_path / "worker-tmp" / "blog-exports"


@pytest.fixture
def env(worker_env, tmp_path, spool_dir) -> dict:
    """The worker's temporary files (the spool) in a folder this test can look into."""
    (tmp_path / "worker-tmp").mkdir()
    return {**worker_env, "TMPDIR": str(tmp_path / "worker-tmp")}


def documents_queue(app) -> Queue:
    return Queue(DOCUMENTS, connection=app.extensions["rq_connection"])


def export_files(media_root: Path) -> list[Path]:
    folder = media_root / "exports"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def current_job(app, data, user, fmt: str) -> Job:
    build = data.exports.build(user.id, fmt)
    return Job.fetch(build["job_id"], connection=app.extensions["rq_connection"])


def run_documents(burst_worker, env) -> None:
    burst_worker(DOCUMENTS, env=env, timeout=300)


# ---- the page -------------------------------------------------------------------------


def test_export_page_is_for_authors_and_in_the_navigation(client, auth):
    assert client.get("/export").status_code == 302
    auth.login()
    page = client.get("/").get_data(as_text=True)
    assert '<a href="/export">Export</a>' in page
    page = client.get("/export").get_data(as_text=True)
    assert ">Build</button>" in page
    assert "Markdown site bundle (.zip)" in page and "EPUB book (.epub)" in page
    assert "<script src=" in page and "progress.js" in page
    assert "<script>" not in page  # no inline script


def test_form_limits_have_clear_messages(client, auth, app):
    auth.login()
    cases = [
        ({"format": "pdf"}, "Choose a format: Markdown site bundle or EPUB book."),
        ({"format": "epub", "tag": "nope"}, "No published post has the tag &#39;nope&#39;."),
        ({"format": "epub", "tag": "x" * 41}, "A tag is at most 40 characters long."),
    ]
    for form, message in cases:
        page = client.post("/export", data=form, follow_redirects=True).get_data(as_text=True)
        assert message in page
    assert documents_queue(app).count == 0


def test_build_markdown_in_a_worker_then_download_it(
    client, auth, app, data, media_root, burst_worker, env, spool_dir
):
    auth.login()
    blog = make_blog(data, app.extensions["media_storage"])
    page = client.post("/export", data={"format": "markdown"}, follow_redirects=True)
    html = page.get_data(as_text=True)
    assert "Building your Markdown site bundle (.zip)." in html
    job = current_job(app, data, blog.author, "markdown")
    assert job.origin == DOCUMENTS and job.retries_left == 2  # a Retry, as every job
    assert f'data-status-url="/jobs/{job.id}/status"' in html
    assert "<progress" in html and ">Cancel</button>" in html
    status = client.get(f"/jobs/{job.id}/status").get_json()
    assert status["state"] == "queued"

    run_documents(burst_worker, env)

    status = client.get(f"/jobs/{job.id}/status").get_json()
    assert status["state"] == "done" and status["percent"] == 100
    assert status["done"] == status["total"] == len(blog.published) + 2
    html = client.get("/export").get_data(as_text=True)
    assert "Download a-redis-blog-" in html and "Cancel" not in html
    download = client.get("/export/markdown/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/zip"
    assert "attachment" in download.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(download.data))
    assert f"content/posts/{blog.drafts[0].slug}/index.md" in archive.namelist()
    assert [p.name for p in export_files(media_root)] == [
        data.exports.last_file(blog.author.id, "markdown")["key"].rsplit("/", 1)[1]
    ]
    assert not list(spool_dir.glob("*"))  # the spool file is gone

    # Another author sees neither the file nor the job.
    auth.logout()
    auth.login("bob")
    assert client.get("/export/markdown/download").status_code == 404
    assert client.get(f"/jobs/{job.id}/status").status_code == 404


def test_a_new_build_replaces_the_last_file(client, auth, app, data, media_root, burst_worker, env):
    auth.login()
    make_blog(data, app.extensions["media_storage"])
    for _ in range(2):
        client.post("/export", data={"format": "epub", "tag": "köln"})
        run_documents(burst_worker, env)
    files = export_files(media_root)
    assert len(files) == 1 and files[0].suffix == ".epub"
    download = client.get("/export/epub/download")
    assert download.headers["Content-Type"] == "application/epub+zip"
    assert (
        "k%C3%B6ln" in download.headers["Content-Disposition"]
        or "koln" in (download.headers["Content-Disposition"])
    )


def test_two_clicks_at_once_make_one_build(app, data, auth, client):
    auth.create()
    clients = [app.test_client() for _ in range(4)]
    for c in clients:
        c.post("/login", data={"username": "alice", "password": PASSWORD})
    barrier = threading.Barrier(len(clients))
    answers = []

    def click(c):
        barrier.wait()
        answers.append(c.post("/export", data={"format": "epub"}, follow_redirects=True))

    threads = [threading.Thread(target=click, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert documents_queue(app).count == 1
    texts = [a.get_data(as_text=True) for a in answers]
    assert sum("Building your EPUB book (.epub)." in t for t in texts) == 1
    assert sum("is already being built" in t for t in texts) == 3
    # The other format is a separate build.
    clients[0].post("/export", data={"format": "markdown"})
    assert documents_queue(app).count == 2


# ---- S3 -------------------------------------------------------------------------------


def test_s3_download_is_a_presigned_link_valid_ten_minutes(
    redis_url, redis_client, s3_settings, burst_worker, env
):
    app = make_app(redis_url, **s3_settings)
    client = app.test_client()
    data = app.extensions["blog_data"]
    make_blog(data, app.extensions["media_storage"])
    client.post("/login", data={"username": "alice", "password": PASSWORD})
    client.post("/export", data={"format": "epub"})
    run_documents(burst_worker, {**env, **s3_settings, **S3_CREDENTIALS})

    answer = client.get("/export/epub/download")
    assert answer.status_code == 303
    url = answer.headers["Location"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    assert query["X-Amz-Expires"] == ["600"]
    assert "/blog/exports/" in url
    assert "attachment" in query["response-content-disposition"][0]
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    assert zipfile.ZipFile(io.BytesIO(body)).read("mimetype") == b"application/epub+zip"
    keys = list(app.extensions["media_storage"].keys("exports/"))
    assert len(keys) == 1 and keys[0].endswith(".epub")


# ---- cancel, kill, retry --------------------------------------------------------------


def wait_mid_build(job: Job, timeout: float = 120) -> dict:
    def writing():
        meta = job.get_meta(refresh=True)
        return meta if meta.get("step") == "writing" and meta.get("done") else None

    return wait_for(writing, timeout=timeout, interval=0.02)


@pytest.mark.slow
def test_cancel_mid_build_removes_the_partial_file(
    client, auth, app, data, redis_url, media_root, env, spool_dir
):
    author = big_blog(data)
    auth.login()
    client.post("/export", data={"format": "markdown"})
    job = current_job(app, data, author, "markdown")
    worker = start_worker(env, queue=DOCUMENTS)
    try:
        meta = wait_mid_build(job)
        assert 0 < meta["done"] < meta["total"]
        assert list(spool_dir.glob("*.part"))  # the partial file, being written
        page = client.post("/export/cancel", data={"format": "markdown"}, follow_redirects=True)
        assert "Cancelled the Markdown site bundle (.zip)" in page.get_data(as_text=True)
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.STOPPED, timeout=60)
        wait_for(lambda: not list(spool_dir.glob("*")), timeout=30)
        status = client.get(f"/jobs/{job.id}/status").get_json()
        assert status["state"] == "cancelled"
        assert "The last build was cancelled." in client.get("/export").get_data(as_text=True)
        assert export_files(media_root) == []
        # Building again works: the cancelled build no longer counts as running.
        answer = client.post("/export", data={"format": "markdown"}, follow_redirects=True)
        assert "Building your Markdown site bundle" in answer.get_data(as_text=True)
    finally:
        stop_worker(worker)


def test_cancel_a_waiting_build(client, auth, app, data):
    auth.login()
    client.post("/export", data={"format": "epub"})
    job = current_job(app, data, data.users.by_username("alice"), "epub")
    client.post("/export/cancel", data={"format": "epub"})
    assert job.get_status(refresh=True) == JobStatus.CANCELED
    assert documents_queue(app).count == 0
    page = client.post("/export/cancel", data={"format": "epub"}, follow_redirects=True)
    assert "That build has already ended." in page.get_data(as_text=True)


@pytest.mark.slow
def test_worker_killed_mid_build_is_retried_into_one_complete_file(
    client, auth, app, data, redis_url, media_root, env, spool_dir
):
    author = big_blog(data)
    auth.login()
    client.post("/export", data={"format": "markdown"})
    job = current_job(app, data, author, "markdown")
    first = start_worker(env, queue=DOCUMENTS)
    try:
        wait_mid_build(job)
        victims = kill_hard(first.pid)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert len(victims) == 2  # the worker and its work horse
    assert export_files(media_root) == []  # nothing half-written is published
    # What a live worker's maintenance does once the dead worker's heartbeat expires.
    rq_redis = redis.Redis.from_url(redis_url)
    StartedJobRegistry(queue=Queue(DOCUMENTS, connection=rq_redis)).cleanup(
        timestamp=time.time() + 3600
    )
    assert job.get_status(refresh=True) in (JobStatus.SCHEDULED, JobStatus.QUEUED)
    assert client.get(f"/jobs/{job.id}/status").get_json()["state"] in ("retrying", "queued")

    second = start_worker(env, "--with-scheduler", queue=DOCUMENTS)
    try:
        wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 180, 0.25)
    finally:
        stop_worker(second)
    files = export_files(media_root)
    assert len(files) == 1
    archive = zipfile.ZipFile(files[0])
    assert archive.testzip() is None
    posts = data.exports.count(None, False, [author.id])
    assert len([n for n in archive.namelist() if n.endswith("/index.md")]) == posts
    assert not list(spool_dir.glob("*"))


# ---- cleanup and backups --------------------------------------------------------------


def test_scheduled_cleanup_deletes_expired_exports(
    app, redis_url, media_root, burst_worker, env, spool_dir
):
    import os
    from datetime import UTC, datetime, timedelta

    from blog.exports.service import storage_key

    storage = app.extensions["media_storage"]
    now = datetime.now(UTC)
    old = storage_key(1, "epub", now - timedelta(hours=25), "old")
    fresh = storage_key(1, "markdown", now - timedelta(hours=1), "fresh")
    for key in (old, fresh):
        storage.put(key, b"document", "application/zip")

    # The scheduler process registers the hourly cron job...
    subprocess.run(
        [sys.executable, "-m", "jobs.scheduler", "--burst"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
    )
    rq_redis = redis.Redis.from_url(redis_url)
    cron = Job.fetch("export-cleanup", connection=rq_redis)
    assert cron.func_name == "jobs.export.scheduled_cleanup" and cron.origin == DOCUMENTS
    assert rq_redis.zscore("rq:scheduler:scheduled_jobs", "export-cleanup") is not None
    # ...whose kicker enqueues the cleanup with a Retry; a worker runs both.
    # A spool file a killed try left behind long ago goes too; a fresh one stays.
    spool_dir.mkdir(parents=True)
    (spool_dir / "killed.part").write_bytes(b"partial")
    os.utime(spool_dir / "killed.part", (time.time() - 4 * 3600,) * 2)
    (spool_dir / "running.part").write_bytes(b"partial")
    Queue(DOCUMENTS, connection=rq_redis).enqueue("jobs.export.scheduled_cleanup")
    run_documents(burst_worker, env)
    assert sorted(storage.keys("exports/")) == [fresh]
    assert [p.name for p in spool_dir.iterdir()] == ["running.part"]


def test_backups_never_hold_exports(
    client, auth, app, data, runner, tmp_path, burst_worker, env, media_root
):
    auth.login()
    make_blog(data, app.extensions["media_storage"])
    client.post("/export", data={"format": "markdown"})
    run_documents(burst_worker, env)
    assert export_files(media_root)
    assert family_of("export:1:markdown:build").backup == EXCLUDED
    assert family_of("export:1:epub:file").backup == EXCLUDED
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    result = runner.invoke(args=["backup", "run"])
    assert result.exit_code == 0, result.output
    (archive,) = (tmp_path / "backups").rglob("*.tar.gz")
    raw = gzip.decompress(archive.read_bytes())
    assert b"exports/" not in raw and b"export:" not in raw
    assert b"images/" in raw  # the blog's own images are there


# ---- the CLI --------------------------------------------------------------------------


def test_cli_exports_with_a_progress_bar(runner, app, data, tmp_path):
    blog = make_blog(data, app.extensions["media_storage"])
    out = tmp_path / "site.zip"
    result = runner.invoke(args=["export", "markdown", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output and "posts" in result.output
    names = zipfile.ZipFile(out).namelist()
    assert f"content/posts/{blog.drafts[0].slug}/index.md" in names  # every author's drafts
    book = tmp_path / "book.epub"
    result = runner.invoke(args=["export", "epub", "--tag", "köln", "--out", str(book)])
    assert result.exit_code == 0, result.output
    assert zipfile.ZipFile(book).read("mimetype") == b"application/epub+zip"
    assert not list(tmp_path.glob(".*.part"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["pdf"], "'pdf' is not one of 'epub', 'markdown'"),
        (["markdown", "--tag", "köln"], "only an EPUB book can be limited to one tag"),
        (["epub", "--tag", "nope"], "no published post has the tag 'nope'"),
        (["epub", "--tag", "x" * 41], "a tag is at most 40 characters long"),
        (["epub", "--out", "{tmp}"], "is a directory; give a file name"),
        (["epub", "--out", "{tmp}/missing/book.epub"], "does not exist"),
    ],
)
def test_cli_limits(runner, app, data, tmp_path, args, message):
    make_blog(data, app.extensions["media_storage"])
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    result = runner.invoke(args=["export", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_failed_build_says_so(client, auth, app, data, burst_worker, env, media_root):
    auth.login()
    author = data.users.by_username("alice")
    job_id = "export-broken-1"
    data.exports.claim_build(author.id, "markdown", job_id, "", lambda *_: False)
    documents_queue(app).enqueue(  # no Retry: it fails at once
        "jobs.export.build_document",
        kwargs={"user_id": author.id, "fmt": "no-such-format"},
        job_id=job_id,
        meta={"owner_id": author.id},
    )
    run_documents(burst_worker, env)
    status = client.get(f"/jobs/{job_id}/status").get_json()
    assert status["state"] == "failed" and "no-such-format" in status["error"]
    page = client.get("/export").get_data(as_text=True)
    assert "The last build failed: KeyError: &#39;no-such-format&#39;" in page
    assert export_files(media_root) == []


def test_status_endpoint_only_knows_documents_jobs_of_their_owner(client, auth, app):
    auth.login()
    other = Queue("images", connection=app.extensions["rq_connection"]).enqueue(
        "jobs.images.clean_upload", "x", meta={"owner_id": 1}
    )
    assert client.get(f"/jobs/{other.id}/status").status_code == 404
    assert client.get("/jobs/nope/status").status_code == 404
    assert client.get("/jobs/" + "x" * 101 + "/status").status_code == 404


def test_an_expired_file_is_no_longer_offered(client, auth, app, data):
    auth.login()
    author = data.users.by_username("alice")
    hours = app.config["EXPORT_KEEP_HOURS"]
    data.exports.finish_build(
        author.id,
        "epub",
        {
            "key": "exports/1/x.epub",
            "name": "x.epub",
            "tag": "",
            "bytes": 1,
            "posts": 1,
            "images": 0,
            "comments": 0,
            "finished_at": time.time() - hours * 3600 - 60,
        },
    )
    assert client.get("/export/epub/download").status_code == 404
    assert "Your last file expired on" in client.get("/export").get_data(as_text=True)
    assert client.get("/export/pdf/download").status_code == 404
