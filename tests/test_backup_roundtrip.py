"""Back up varied data, flush everything, restore: the logical dumps are identical and
every image file comes back byte for byte. S3 (moto over HTTP, backup made by a real
`rq worker`) and the local directory target."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile

import boto3
import pytest
from rq import Queue

from blog.backups import service
from blog.backups.targets import NAME_RE, LocalTarget, S3Target
from blog.data.records import Exporter, Importer
from blog.data.reindex import reindex
from tests.backup_helpers import (
    add_image,
    check_invariants,
    env_with,
    logical_dump,
    make_varied_data,
    media_files,
    run_worker,
)
from tests.helpers import S3_CREDENTIALS, make_app

KEY_RE = re.compile(r"backups/(\d{4})/(\d{2})/(\d{2})/blog-\1\2\3T\d{6}Z\.tar\.gz")


@pytest.fixture
def s3_app(redis_url, redis_client, s3_settings, tmp_path):
    return make_app(redis_url, **s3_settings, BACKUP_ROOT=str(tmp_path / "unused"))


def test_round_trip_through_s3_with_a_real_worker(
    s3_app, s3_settings, s3_endpoint, worker_env, redis_client
):
    app, data = s3_app, s3_app.extensions["blog_data"]
    storage = app.extensions["media_storage"]
    made = make_varied_data(data, storage, posts=300)
    before = logical_dump(redis_client)
    files = media_files(storage, made["images"], data)
    assert len(files) == 18 and len(before) > 900

    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "run", "--enqueue"])
    assert result.exit_code == 0, result.output
    job_id = result.output.split("job ")[1].split()[0]
    worker = run_worker(env_with(worker_env, **s3_settings, **S3_CREDENTIALS), "backups")
    assert worker.returncode == 0, worker.stderr
    job = Queue("backups", connection=app.extensions["rq_connection"]).fetch_job(job_id)
    assert job.get_status() == "finished", worker.stderr
    assert job.meta["step"] == "done" and "media" in job.meta["progress"]
    assert job.retries_left == 3  # enqueued with Retry(max=3)

    outcome = data.backups.last_good()
    key = outcome["key"]
    assert KEY_RE.fullmatch(key), key
    assert outcome["counts"]["posts"] == len([k for k in before if re.fullmatch(r"post:\d+", k)])
    assert outcome["counts"]["media_files"] == 18
    s3, bucket = boto3.client("s3", endpoint_url=s3_endpoint), s3_settings["S3_BUCKET"]
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == outcome["size"]
    # The archive's SHA-256, in a sidecar object written before the upload completed.
    sidecar = s3.get_object(Bucket=bucket, Key=key + ".sha256")
    assert sidecar["Body"].read().decode() == f"{outcome['sha256']}  {key.rsplit('/', 1)[1]}\n"
    assert sidecar["ServerSideEncryption"] == "AES256"
    # S3's own checksum: the SHA-256 of the parts' SHA-256s (parts of 8 MiB, one here).
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == outcome["sha256"]
    composite = base64.b64encode(hashlib.sha256(hashlib.sha256(body).digest()).digest())
    assert head["ChecksumSHA256"] in (composite.decode(), f"{composite.decode()}-1")
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="backups/")["Contents"]]
    assert listed == [key, key + ".sha256"]  # nothing else: no temporary object

    # Disaster: Redis emptied, every media object deleted.
    redis_client.flushall()
    for media_key in files:
        storage.delete(media_key)
    result = runner.invoke(args=["backup", "restore", key])
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output and "posts" in result.output

    assert logical_dump(redis_client) == before
    assert media_files(storage, made["images"], data) == files
    check_invariants(redis_client, "blog:")


def test_round_trip_local_target_in_process(app, data, redis_client, media_root, tmp_path):
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    storage = app.extensions["media_storage"]
    made = make_varied_data(data, storage, posts=60, images=3)
    before = logical_dump(redis_client)
    files = media_files(storage, made["images"], data)

    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "run"])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Backed up to .+: \d+ posts, \d+ comments, 2 authors, 4 images, 9 files", result.output
    ), result.output
    assert re.search(
        r"data: [\d,]+ records \| images: \[#+\] [\d.]+/[\d.]+ MB \| archive: ", result.output
    ), result.output  # the progress line
    key = data.backups.last_good()["key"]
    assert NAME_RE.fullmatch(key)
    archive = tmp_path / "backups" / key
    sidecar = archive.with_name(archive.name + ".sha256").read_text()
    assert sidecar.split() == [data.backups.last_good()["sha256"], archive.name]
    assert not list((tmp_path / "backups").rglob(".incomplete-*"))

    # The archive is a plain tar.gz: data.jsonl first, media, manifest last.
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        records = [json.loads(line) for line in tar.extractfile("data.jsonl")]
    assert names[0] == "data.jsonl" and names[-1] == "manifest.json"
    assert {n[len("media/") :] for n in names[1:-1]} == set(files)
    assert manifest["counts"]["images"] == 4 and manifest["key_prefix"] == "blog:"
    exported = {r["key"] for r in records}
    assert "posts:published" not in exported and "slugs" not in exported  # derived
    assert not any(k.endswith(":card") for k in exported)  # listing cards: derived too
    assert not any(k.startswith(("rate:", "backup:", "tag:", "user:1:")) for k in exported)
    assert records[-1]["key"].startswith("ids:")  # counters last
    assert {"settings:theme", "feature:log", "cache:greeting"} <= exported

    redis_client.flushall()
    for media_key in files:
        storage.delete(media_key)
    result = runner.invoke(args=["backup", "restore", key])
    assert result.exit_code == 0, result.output
    assert logical_dump(redis_client) == before
    assert media_files(storage, made["images"], data) == files
    assert redis_client.pttl("blog:cache:greeting") > 0
    assert not redis_client.exists("blog:rate:comment:1.2.3.4:1")


def test_processing_and_missing_images_restore_as_failed(app, data, redis_client, tmp_path):
    storage = app.extensions["media_storage"]
    alice = data.users.create("alice", "correct horse battery")
    processing = add_image(data, storage, alice.id, 500, status="processing")
    ready = add_image(data, storage, alice.id, 500)
    lost = add_image(data, storage, alice.id, 500)
    storage.delete(data.images.get(lost).storage_key("thumb"))
    target = LocalTarget(tmp_path / "b")
    outcome = service.run_backup(data, storage, target, app.config)
    assert outcome["counts"]["images_missing_media"] == 1
    assert outcome["counts"]["images_processing"] == 1
    with tarfile.open(tmp_path / "b" / outcome["key"]) as tar:
        records = {r["key"]: r for r in map(json.loads, tar.extractfile("data.jsonl"))}
        members = set(tar.getnames())
    assert records[f"image:{lost}"]["value"]["backup_media_missing"] == "1"
    assert records[f"image:{ready}"]["value"].get("backup_media_missing") is None
    assert f"media/images/{lost}/thumb.jpg" not in members  # never claimed, never there

    result = service.restore_backup(data, storage, target, outcome["key"], force=True)
    assert result["images_failed_by_restore"] == 2
    assert data.images.get(processing).status == "failed"
    assert "Interrupted by a restore" in data.images.get(processing).error
    assert data.images.get(lost).status == "failed"
    assert "backup_media_missing" not in redis_client.hgetall(f"blog:image:{lost}")
    assert data.images.get(ready).status == "ready"


def test_reindex_rebuilds_exactly_what_the_writers_maintain(app, data, redis_client):
    make_varied_data(data, app.extensions["media_storage"], posts=80, images=2)
    before = logical_dump(redis_client)
    for name in list(before):
        if (
            name in ("posts:published", "slugs", "tags", "users")
            or name.startswith("tag:")
            or re.fullmatch(r"user:\d+:(posts|pending|images)|post:\d+:card", name)
        ):
            redis_client.delete("blog:" + name)
    redis_client.sadd("blog:tag:stale", "999")  # an index entry for nothing: must go
    reindex(redis_client, data.keys)
    assert logical_dump(redis_client) == before


def test_records_can_be_imported_under_another_prefix(app, data, redis_client):
    """The archive holds keys without the prefix: a restore can move the blog."""
    make_varied_data(data, app.extensions["media_storage"], posts=30, images=1)
    exporter = Exporter(redis_client, data.keys, lambda key: 1)
    records = list(exporter.records())
    from blog.data.keys import Keys

    importer = Importer(redis_client, Keys("copy:"))
    for record in records:
        importer.add(json.loads(json.dumps(record)))  # as it comes out of data.jsonl
    importer.finish()
    assert logical_dump(redis_client, "copy:") == logical_dump(redis_client, "blog:")


def test_archive_bytes_are_gzip_and_members_hash(app, data, tmp_path):
    data.users.create("alice", "correct horse battery")
    target = LocalTarget(tmp_path / "b")
    outcome = service.run_backup(data, app.extensions["media_storage"], target, app.config)
    raw = (tmp_path / "b" / outcome["key"]).read_bytes()
    assert raw[:2] == b"\x1f\x8b"
    assert gzip.decompress(raw)  # complete gzip stream
    info, manifest = service.verify_backup(target, outcome["key"])
    assert manifest["counts"]["users"] == 1 and info.good
    assert io.BytesIO(raw).getbuffer().nbytes == outcome["size"]


def test_kms_encryption_when_a_key_id_is_set(app, data, s3_endpoint, s3_bucket):
    kms = boto3.client("kms", endpoint_url=s3_endpoint)
    key_id = kms.create_key(Description="blog backups")["KeyMetadata"]["KeyId"]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    target = S3Target(s3_bucket, "nightly", client=s3, sse_kms_key_id=key_id)
    data.users.create("alice", "correct horse battery")
    outcome = service.run_backup(data, app.extensions["media_storage"], target, app.config)
    assert outcome["key"].startswith("nightly/")
    head = s3.head_object(Bucket=s3_bucket, Key=outcome["key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(key_id)
    assert service.verify_backup(target, outcome["key"])[0].sha256 == outcome["sha256"]


def test_images_uploaded_through_the_real_flow_come_back(
    client, auth, app, data, redis_client, burst_worker, tmp_path
):
    """HTTP upload, a real worker cleans it, then back up, lose everything, restore."""
    from tests.helpers import FIXTURES

    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    auth.login()
    photo = (FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg").read_bytes()
    info = client.post(
        "/uploads",
        data={"image": (io.BytesIO(photo), "DSCN0010.jpg")},
        content_type="multipart/form-data",
    ).get_json()
    burst_worker("images")
    status = client.get(info["status_url"]).get_json()
    assert status["status"] == "ready", status
    served = {v["url"]: client.get(v["url"]).data for v in status["variants"]}
    before = logical_dump(redis_client)

    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "run"]).exit_code == 0
    key = data.backups.last_good()["key"]
    redis_client.flushall()
    for path in (app.extensions["media_storage"].root / "images").rglob("*"):
        if path.is_file():
            path.unlink()
    result = runner.invoke(args=["backup", "restore", key])
    assert result.exit_code == 0, result.output
    assert logical_dump(redis_client) == before
    auth.login()
    for url, body in served.items():
        assert client.get(url).data == body  # served byte for byte, variants too
