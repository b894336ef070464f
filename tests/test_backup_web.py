"""/admin/backups (authors only, "Back up now" enqueues), /healthz, and every
`flask backup` command's messages."""

from __future__ import annotations

import json
import time

import pytest
from rq import Queue

from blog.backups import service
from blog.backups.targets import LocalTarget
from tests.helpers import csrf_token, login_with_token, make_app


@pytest.fixture
def backup_root(app, tmp_path):
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    return tmp_path / "backups"


def backups_queue(app) -> Queue:
    return Queue("backups", connection=app.extensions["rq_connection"])


# ---- the page -------------------------------------------------------------------------


def test_page_and_button_need_a_logged_in_author(client, app, backup_root):
    response = client.get("/admin/backups")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.post("/admin/backups")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert backups_queue(app).count == 0


def test_page_lists_backups_and_the_last_outcome(client, auth, app, data, backup_root):
    auth.login()
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "No backup has run yet" in page and "Back up now" in page
    assert "No nightly schedule is registered" in page
    assert 'href="/admin/backups">Backups</a>' in page  # the nav link, for authors

    outcome = service.run_backup(
        data, app.extensions["media_storage"], LocalTarget(backup_root), app.config
    )
    app.test_cli_runner().invoke(args=["backup", "schedule"])
    page = client.get("/admin/backups").get_data(as_text=True)
    assert outcome["key"] in page and "Good backup" in page
    assert "Nightly at <code>0 3 * * *</code> (UTC)" in page

    data.backups.record(
        {
            "ok": False,
            "started_at": time.time(),
            "trigger": "schedule",
            "error": "EndpointConnectionError: S3 is down",
        }
    )
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "failed" in page and "S3 is down" in page
    assert f"Last good backup: <code>{outcome['key']}</code>" in page


def test_page_says_when_the_target_cannot_be_listed(client, auth, app, tmp_path):
    class Unlistable(LocalTarget):
        def list(self, with_checksums=False):
            raise PermissionError("access denied by the bucket policy")

    app.extensions["backup_target"] = Unlistable(tmp_path)
    auth.login()
    page = client.get("/admin/backups").get_data(as_text=True)
    assert "Cannot list the backups: PermissionError: access denied" in page


def test_back_up_now_enqueues_a_job_with_retries_and_csrf(csrf_app, redis_client):
    client = csrf_app.test_client()
    csrf_app.extensions["blog_data"].users.create("alice", "correct horse battery")
    login_with_token(client)
    page = client.get("/admin/backups").get_data(as_text=True)

    assert client.post("/admin/backups").status_code == 400  # no CSRF token
    assert backups_queue(csrf_app).count == 0

    response = client.post("/admin/backups", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    [job] = backups_queue(csrf_app).jobs
    assert job.func_name == "jobs.backup.run_backup"
    assert job.kwargs == {"trigger": "web:alice"}
    assert (job.retries_left, job.retry_intervals) == (3, [60, 300, 900])
    assert job.timeout == 3 * 3600
    page = client.get("/admin/backups").get_data(as_text=True)
    assert f"Backup queued (job {job.id})" in page
    assert "queued: job" in page  # shown in progress

    client.post("/admin/backups", data={"csrf_token": csrf_token(page)})  # a double click
    assert backups_queue(csrf_app).count == 1
    page = client.get("/admin/backups").get_data(as_text=True)
    assert f"A backup is already queued (job {job.id})" in page


# ---- /healthz -------------------------------------------------------------------------


def test_healthz_reports_the_age_of_the_last_good_backup(client, auth, data):
    auth.login()  # the details are for authors (and monitors with HEALTHZ_TOKEN)
    body = client.get("/healthz").get_json()
    assert body["status"] == "warning" and body["redis"] == "ok"
    assert (body["backup"], body["last_good_backup_age_seconds"]) == ("missing", None)

    data.backups.record({"ok": True, "key": "k1", "started_at": time.time() - 3600})
    response = client.get("/healthz")
    body = response.get_json()
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert body["backup"] == "ok"  # (status also weighs workers: see test_operations.py)
    assert 3599 <= body["last_good_backup_age_seconds"] <= 3700

    data.backups.record({"ok": True, "key": "k2", "started_at": time.time() - 37 * 3600})
    data.backups.record({"ok": False, "started_at": time.time(), "error": "boom"})
    body = client.get("/healthz").get_json()
    assert body["backup"] == "warning" and body["status"] == "warning"
    assert body["last_good_backup_age_seconds"] >= 37 * 3600
    assert body["last_good_backup"] == "k2"  # a failed run does not count


def test_healthz_is_503_when_redis_is_down(media_root):
    app = make_app("redis://127.0.0.1:1/0", MEDIA_ROOT=str(media_root), HEALTHZ_TOKEN="t" * 20)
    response = app.test_client().get("/healthz", headers={"Authorization": "Bearer " + "t" * 20})
    assert response.status_code == 503
    assert response.get_json()["redis"] == "error"
    assert response.get_json()["status"] == "error"


# ---- the commands' messages -----------------------------------------------------------


def test_run_enqueue_prints_the_job(runner, app):
    result = runner.invoke(args=["backup", "run", "--enqueue"])
    assert result.exit_code == 0
    [job_id] = backups_queue(app).get_job_ids()
    assert result.output.strip() == f"Queued backup job {job_id} on the 'backups' queue."


def test_list_shows_a_table_and_the_last_failure(runner, app, data, backup_root):
    result = runner.invoke(args=["backup", "list"])
    assert result.exit_code == 0 and "No backups yet" in result.output
    outcome = service.run_backup(
        data, app.extensions["media_storage"], LocalTarget(backup_root), app.config
    )
    (backup_root / "2020/01/01").mkdir(parents=True)
    (backup_root / "2020/01/01/blog-20200101T030000Z.tar.gz").write_bytes(b"no sidecar")
    data.backups.record({"ok": False, "started_at": 1.7e9, "error": "TimeoutError: slow"})
    lines = runner.invoke(args=["backup", "list"]).output.splitlines()
    assert lines[1].split() == ["KEY", "TIME", "(UTC)", "SIZE", "COUNTS", "OK"]
    assert lines[2].startswith(outcome["key"]) and lines[2].endswith("yes")
    assert "0 posts, 0 comments, 0 authors, 0 images, 0 files" in lines[2]
    assert lines[3].startswith("2020/01/01/blog-20200101T030000Z.tar.gz")
    assert "(not recorded here)" in lines[3] and lines[3].endswith("NO (no checksum)")
    assert lines[4] == "Last run FAILED at 2023-11-14 22:13:20Z: TimeoutError: slow"


def test_verify_and_restore_messages(runner, app, data, redis_client, backup_root):
    outcome = service.run_backup(
        data, app.extensions["media_storage"], LocalTarget(backup_root), app.config
    )
    result = runner.invoke(args=["backup", "verify", outcome["key"]])
    assert result.exit_code == 0
    assert result.output.startswith(f"OK: {outcome['key']} is a complete, intact backup")
    assert outcome["sha256"] in result.output

    for command in (["verify"], ["restore"], ["restore", "--force"]):
        missing = runner.invoke(
            args=["backup", *command, "2021/02/03/blog-20210203T040506Z.tar.gz"]
        )
        assert missing.exit_code == 1
        assert "Error: no backup '2021/02/03/blog-20210203T040506Z.tar.gz' in " in missing.output
        for bad in ("latest", "../../etc/passwd", "2021/02/04/blog-20210203T040506Z.tar.gz"):
            malformed = runner.invoke(args=["backup", *command, bad])
            assert malformed.exit_code == 1
            assert (
                f"Error: '{bad}' is not a backup key: expected 2025/01/31/blog-" in malformed.output
            )
        no_key = runner.invoke(args=["backup", *command])
        assert no_key.exit_code == 2 and "Missing argument 'KEY'" in no_key.output

    (backup_root / "2020/01/01").mkdir(parents=True)
    (backup_root / "2020/01/01/blog-20200101T030000Z.tar.gz").write_bytes(b"x")
    result = runner.invoke(args=["backup", "verify", "2020/01/01/blog-20200101T030000Z.tar.gz"])
    assert result.exit_code == 1 and "has no recorded SHA-256" in result.output

    redis_client.flushall()
    redis_client.set("blog:backup:lock", "other", ex=60)
    busy = runner.invoke(args=["backup", "restore", outcome["key"]])
    assert busy.exit_code == 1 and "another backup or restore is running" in busy.output


def test_schedule_command_registers_in_utc_and_refuses_bad_cron(runner, app, redis_client):
    result = runner.invoke(args=["backup", "schedule", "--cron", "0 25 * * *"])
    assert result.exit_code == 2
    assert (
        "Invalid value for '--cron' / BACKUP_CRON: '0 25 * * *' is not a valid cron"
        in result.output
    )
    app.config["BACKUP_CRON"] = "nightly"
    result = runner.invoke(args=["backup", "schedule"])
    assert result.exit_code == 2 and "'nightly' is not a valid cron expression" in result.output

    result = runner.invoke(args=["backup", "schedule", "--cron", "15 4 * * *"])
    assert result.exit_code == 0
    assert "Nightly backup registered: '15 4 * * *' in UTC; next run " in result.output
    assert "04:15Z" in result.output
    result = runner.invoke(args=["backup", "schedule", "--cron", "15 4 * * *"])
    assert "already registered" in result.output


def test_outcomes_are_json_in_redis(data, redis_client):
    data.backups.record({"ok": True, "key": "a", "started_at": 1.0})
    data.backups.record({"ok": False, "started_at": 2.0, "error": "x"})
    assert [r["ok"] for r in data.backups.runs()] == [False, True]
    assert json.loads(redis_client.get("blog:backup:last-good"))["key"] == "a"
