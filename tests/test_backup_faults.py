"""Faults: S3 going away mid-upload, an archive that is truncated, corrupt or altered,
a restore into a store that is not empty, two runs at once."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry

from blog.backups import service
from blog.backups.enqueue import enqueue_backup
from blog.backups.targets import NAME_RE, LocalTarget, S3Target, TargetError
from tests.backup_helpers import (
    CuttableProxy,
    add_image,
    env_with,
    logical_dump,
    make_varied_data,
    media_files,
    run_worker,
    tampered,
)
from tests.helpers import S3_CREDENTIALS

MiB = 1024 * 1024
CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "region_name": "us-east-1",
}

pytestmark = pytest.mark.slow


@pytest.fixture
def own_s3():
    """A second moto server, only this test's, behind a proxy the test can cut."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    proxy = CuttableProxy((host, port)).start()
    direct = boto3.client("s3", endpoint_url=f"http://{host}:{port}", **CREDENTIALS)
    direct.create_bucket(Bucket="outage-bucket")
    yield proxy, direct
    proxy.stop()
    server.stop()


def test_s3_outage_mid_upload_aborts_retries_then_succeeds(
    app, data, redis_client, own_s3, worker_env
):
    proxy, direct = own_s3
    storage = app.extensions["media_storage"]
    alice = data.users.create("alice", "correct horse battery")
    for _ in range(4):  # ~24 MB of incompressible originals: five 5 MiB parts
        add_image(data, storage, alice.id, 6 * MiB, variants=())
    env = env_with(
        worker_env,
        BACKUP_BUCKET="outage-bucket",
        S3_ENDPOINT_URL=proxy.url,
        BACKUP_PART_MB=5,
        **S3_CREDENTIALS,
    )
    rq = app.extensions["rq_connection"]
    with app.app_context():
        job = enqueue_backup(trigger="test")

    proxy.cut_after = 12 * MiB  # S3 disappears during the third part
    first = run_worker(env, "backups")
    assert first.returncode == 0, first.stderr
    assert proxy.cut.is_set()

    job.refresh()
    assert job.get_status() == "scheduled"  # failed, retry in 60 s (RQ Retry)
    assert job.retries_left == 2
    registry = ScheduledJobRegistry(queue=Queue("backups", connection=rq))
    assert job.id in registry.get_job_ids()
    failed = data.backups.last()
    assert failed["ok"] is False and "Could not connect" in failed["error"], failed
    assert data.backups.last_good() is None
    # The server behind the proxy kept its state: nothing exists under any backup name
    # (the object is only created by CompleteMultipartUpload, never reached). The upload
    # could not be aborted while S3 was unreachable, so it is still listed, under the
    # backup's own name; the next run aborts it.
    assert direct.list_objects_v2(Bucket="outage-bucket").get("KeyCount") == 0
    uploads = direct.list_multipart_uploads(Bucket="outage-bucket").get("Uploads", [])
    assert [u["Key"] for u in uploads] == [failed["key"]]

    proxy.cut_after = None
    proxy.start()  # S3 is back, same address
    rq.zadd(registry.key, {job.id: time.time() - 1})  # the retry is due now, not in 60 s
    second = run_worker(env, "backups", with_scheduler=True)
    assert second.returncode == 0, second.stderr

    job.refresh()
    assert job.get_status() == "finished", second.stderr
    good = data.backups.last_good()
    assert good["job_id"] == job.id
    objects = direct.list_objects_v2(Bucket="outage-bucket")["Contents"]
    assert [o["Key"] for o in objects] == [good["key"], good["key"] + ".sha256"]
    assert NAME_RE.fullmatch(good["key"][len("backups/") :])
    head = direct.head_object(Bucket="outage-bucket", Key=good["key"], ChecksumMode="ENABLED")
    assert head["ContentLength"] == good["size"] > 24 * MiB
    assert head["ChecksumSHA256"]  # S3's composite of five checked parts, checked by the run
    sidecar = direct.get_object(Bucket="outage-bucket", Key=good["key"] + ".sha256")
    assert sidecar["Body"].read().split()[0].decode() == good["sha256"]
    assert not direct.list_multipart_uploads(Bucket="outage-bucket").get("Uploads")
    info, manifest = service.verify_backup(S3Target("outage-bucket", client=direct), good["key"])
    assert manifest["counts"]["media_files"] == 4


def test_any_error_mid_stream_aborts_the_upload(s3_endpoint, s3_bucket):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    target = S3Target(s3_bucket, client=client, part_size=5 * MiB)
    key = target.new_key(datetime.now(UTC))

    def write_contents(out):
        for _ in range(3):
            out.write(b"\x8f" * (4 * MiB))
        raise RuntimeError("media storage went away")

    with pytest.raises(RuntimeError, match="went away"):
        target.write(key, write_contents)
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    assert not client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_a_stored_object_that_fails_its_check_is_deleted(s3_endpoint, s3_bucket):
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    target = S3Target(s3_bucket, client=client)
    key = target.new_key(datetime.now(UTC))

    class Lying:  # claims one byte more than it wrote
        sha256, bytes_written = hashlib.sha256(b"12345").hexdigest(), 6

    def write_contents(out):
        out.write(b"12345")
        return Lying()

    with pytest.raises(TargetError, match="failed its check"):
        target.write(key, write_contents)
    assert client.list_objects_v2(Bucket=s3_bucket).get("KeyCount") == 0
    head = None
    with pytest.raises(Exception):  # noqa: B017 - any 404
        head = client.head_object(Bucket=s3_bucket, Key=key)
    assert head is None


# ---- damaged archives ---------------------------------------------------------------


@pytest.fixture
def backed_up(app, data, tmp_path):
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    made = make_varied_data(data, app.extensions["media_storage"], posts=20, images=2)
    outcome = service.run_backup(
        data, app.extensions["media_storage"], LocalTarget(tmp_path / "backups"), app.config
    )
    return outcome["key"], tmp_path / "backups" / outcome["key"], made


def _tamper(path: Path) -> None:
    path.write_bytes(tampered(path.read_bytes()))


DAMAGE = {
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-300]), "truncated"),
    "cut in half": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
    "bit flip": (lambda p: p.write_bytes(_flip(p.read_bytes())), ""),
    "trailing bytes": (lambda p: p.write_bytes(p.read_bytes() + b"junk"), "after the end"),
    "not gzip": (
        lambda p: p.write_bytes(b"PK\x03\x04" + p.read_bytes()),
        "not a gzip-compressed file",
    ),
    "altered, manifest rewritten": (_tamper, "SHA-256 does not match"),
}


def _flip(raw: bytes) -> bytes:
    middle = len(raw) // 2
    return raw[:middle] + bytes([raw[middle] ^ 0x40]) + raw[middle + 1 :]


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_archive_is_refused_and_nothing_is_written(
    damage, app, data, redis_client, backed_up
):
    key, path, made = backed_up
    harm, message = DAMAGE[damage]
    harm(path)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["backup", "verify", key])
    assert result.exit_code == 1
    assert f"backup {key} is NOT usable" in result.output and message in result.output

    storage = app.extensions["media_storage"]
    before, files = logical_dump(redis_client), media_files(storage, made["images"], data)
    result = runner.invoke(args=["backup", "restore", key, "--force"])
    assert result.exit_code == 1, result.output
    assert "nothing was restored" in result.output and message in result.output
    assert logical_dump(redis_client) == before  # --force deletes only after pass 1
    assert media_files(storage, made["images"], data) == files

    redis_client.flushall()
    result = runner.invoke(args=["backup", "restore", key])
    assert result.exit_code == 1
    assert redis_client.dbsize() == 0


def test_restore_into_a_store_with_data_is_refused_unless_forced(
    app, data, redis_client, backed_up
):
    key, _, _ = backed_up
    at_backup = logical_dump(redis_client)
    data.users.create("mallory", "correct horse battery")  # written after the backup
    runner = app.test_cli_runner()

    result = runner.invoke(args=["backup", "restore", key])
    assert result.exit_code == 1
    assert "already holds blog data" in result.output and "--force" in result.output
    assert "mallory" in redis_client.hgetall("blog:users")

    result = runner.invoke(args=["backup", "restore", key, "--force"])
    assert result.exit_code == 0, result.output
    assert "Replaced" in result.output
    assert logical_dump(redis_client) == at_backup  # mallory is gone: the backup's state


def test_rate_limit_keys_alone_do_not_block_a_restore(app, data, redis_client, backed_up):
    key, _, _ = backed_up
    redis_client.flushall()
    redis_client.set("blog:rate:comment:1.2.3.4:99", 1, ex=60)
    result = app.test_cli_runner().invoke(args=["backup", "restore", key])
    assert result.exit_code == 0, result.output


def test_one_backup_at_a_time(app, data, redis_client, tmp_path):
    app.config["BACKUP_ROOT"] = str(tmp_path / "b")
    redis_client.set("blog:backup:lock", "someone-else", ex=60)
    result = app.test_cli_runner().invoke(args=["backup", "run"])
    assert result.exit_code == 1
    assert "another backup or restore is running" in result.output
    assert not list((tmp_path / "b").rglob("*.tar.gz"))


def test_failed_run_is_recorded_with_its_error(app, data, redis_client, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the backup directory should be")
    app.config["BACKUP_ROOT"] = str(blocker)
    data.users.create("alice", "correct horse battery")
    result = app.test_cli_runner().invoke(args=["backup", "run"])
    assert result.exit_code == 1 and "backup failed" in result.output
    last = data.backups.last()
    assert last["ok"] is False and "Error" in last["error"]
    assert json.loads(redis_client.lindex("blog:backup:runs", 0))["ok"] is False
    assert data.backups.last_good() is None
