"""The S3 target: the archive is uploaded under its final name, its SHA-256 goes in a
sidecar object written before the upload completes; tampering, a missing sidecar and
leftovers of interrupted runs (moto over HTTP)."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from blog.backups import service
from blog.backups.targets import MiB, S3Target, _same_checksum, backup_name
from processing.archive import ArchiveError
from tests.backup_helpers import logical_dump, make_varied_data, tampered


@pytest.fixture
def s3(s3_endpoint, s3_bucket):
    return boto3.client("s3", endpoint_url=s3_endpoint)


def _keys(s3, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _backed_up(app, data, s3, bucket: str) -> tuple[S3Target, dict]:
    make_varied_data(data, app.extensions["media_storage"], posts=20, images=2)
    target = S3Target(bucket, client=s3)
    return target, service.run_backup(data, app.extensions["media_storage"], target, app.config)


def test_the_archive_appears_only_complete_and_with_its_checksum(
    app, data, s3, s3_endpoint, s3_bucket
):
    """When CompleteMultipartUpload is sent, the sidecar is stored and nothing is under
    the archive's name yet (no temporary object either)."""
    seen = []

    def at_complete(params, **_):
        seen.append((params["Key"], _keys(boto3.client("s3", endpoint_url=s3_endpoint), s3_bucket)))

    uploader = boto3.client("s3", endpoint_url=s3_endpoint)
    uploader.meta.events.register("before-parameter-build.s3.CompleteMultipartUpload", at_complete)
    _, outcome = _backed_up(app, data, uploader, s3_bucket)
    key = outcome["key"]
    assert seen == [(key, [key + ".sha256"])]
    assert _keys(s3, s3_bucket) == [key, key + ".sha256"]


def test_a_failed_completion_leaves_nothing(app, data, s3, s3_endpoint, s3_bucket):
    def fail(**_):
        raise ConnectionError("S3 went away at the last moment")

    uploader = boto3.client("s3", endpoint_url=s3_endpoint)
    uploader.meta.events.register("before-parameter-build.s3.CompleteMultipartUpload", fail)
    with pytest.raises(ConnectionError):
        _backed_up(app, data, uploader, s3_bucket)
    assert _keys(s3, s3_bucket) == []  # the sidecar went too
    assert not s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    assert data.backups.last()["ok"] is False


def test_parts_of_any_writes_make_the_object_s3s_composite_checksum_agrees(
    app, data, s3, s3_bucket
):
    target = S3Target(s3_bucket, client=s3, part_size=5 * MiB)
    key = target.new_key(datetime.now(UTC))
    parts = [bytes([n]) * (5 * MiB) for n in range(3)] + [b"tail"]
    whole = b"".join(parts)

    class Written:
        sha256, bytes_written = hashlib.sha256(whole).hexdigest(), len(whole)

    def write_contents(out):
        out.write(whole[:7])
        scratch = bytearray(777_777)  # reused after each write, as a caller may
        for start in range(7, len(whole) - 4, len(scratch)):
            piece = whole[start : min(start + len(scratch), len(whole) - 4)]
            scratch[: len(piece)] = piece
            out.write(memoryview(scratch)[: len(piece)])
            scratch[:] = bytes(len(scratch))
        out.write(whole[-4:])
        return Written()

    info = target.write(key, write_contents)
    assert info.good and info.sha256 == Written.sha256 and info.size == len(whole)
    head = s3.head_object(Bucket=s3_bucket, Key=key, ChecksumMode="ENABLED")
    digests = b"".join(hashlib.sha256(p).digest() for p in parts)
    composite = base64.b64encode(hashlib.sha256(digests).digest()).decode()
    # AWS answers `<composite>-<parts>`; moto's HEAD leaves the suffix out.
    assert head["ChecksumSHA256"] in (composite, f"{composite}-4")
    assert s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == whole


def test_same_checksum_accepts_what_s3_compatible_stores_report():
    sha = hashlib.sha256(b"x").hexdigest()
    whole = base64.b64encode(bytes.fromhex(sha)).decode()
    assert _same_checksum(None, "abc=-2", sha)  # a store without checksums
    assert _same_checksum("abc=-2", None, sha)  # one that did not answer the parts' ones
    assert _same_checksum("abc=-2", "abc=-2", sha)
    assert _same_checksum("abc=", "abc=-2", sha)  # composite without its suffix
    assert _same_checksum(whole, "abc=-2", sha)  # a store that hashes whole objects
    assert not _same_checksum("abd=-2", "abc=-2", sha)
    assert not _same_checksum("abc=-3", "abc=-2", sha)  # a part too many


def test_an_altered_archive_in_s3_is_refused_and_nothing_is_written(
    app, data, redis_client, s3, s3_bucket
):
    target, outcome = _backed_up(app, data, s3, s3_bucket)
    key = outcome["key"]
    original = s3.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    # Well-formed, its own manifest consistent: only the recorded SHA-256 catches it.
    s3.put_object(Bucket=s3_bucket, Key=key, Body=tampered(original))
    with pytest.raises(ArchiveError, match="SHA-256 does not match"):
        service.verify_backup(target, key)
    before = logical_dump(redis_client)
    with pytest.raises(ArchiveError, match="SHA-256 does not match"):
        service.restore_backup(data, app.extensions["media_storage"], target, key, force=True)
    assert logical_dump(redis_client) == before


def test_an_archive_without_its_sidecar_is_refused(app, data, s3, s3_bucket):
    target, outcome = _backed_up(app, data, s3, s3_bucket)
    s3.delete_object(Bucket=s3_bucket, Key=outcome["key"] + ".sha256")
    assert not target.info(outcome["key"]).good
    with pytest.raises(ArchiveError, match="no recorded SHA-256"):
        service.verify_backup(target, outcome["key"])


def test_a_backup_from_an_earlier_version_with_metadata_still_restores(
    app, data, redis_client, s3, s3_bucket
):
    """Earlier versions copied the archive to its name with `x-amz-meta-sha256`."""
    target, outcome = _backed_up(app, data, s3, s3_bucket)
    before = logical_dump(redis_client)
    old_key = f"backups/{backup_name(datetime.now(UTC) - timedelta(days=3))}"
    body = s3.get_object(Bucket=s3_bucket, Key=outcome["key"])["Body"].read()
    s3.put_object(Bucket=s3_bucket, Key=old_key, Body=body, Metadata={"sha256": outcome["sha256"]})
    assert target.info(old_key).sha256 == outcome["sha256"]
    redis_client.flushall()
    service.restore_backup(data, app.extensions["media_storage"], target, old_key)
    assert logical_dump(redis_client) == before


def test_cleanup_aborts_interrupted_uploads_and_removes_their_leftovers(app, data, s3, s3_bucket):
    target, outcome = _backed_up(app, data, s3, s3_bucket)
    good = outcome["key"]
    dead = f"backups/{backup_name(datetime.now(UTC) - timedelta(hours=1))}"
    # A run killed after its sidecar, before completing: an upload and an orphan sidecar.
    s3.create_multipart_upload(Bucket=s3_bucket, Key=dead)
    s3.put_object(Bucket=s3_bucket, Key=dead + ".sha256", Body=b"0" * 64)
    # What earlier versions left: a temporary object and an upload under incomplete/.
    s3.put_object(Bucket=s3_bucket, Key="backups/incomplete/blog-x.tar.gz", Body=b"half")
    s3.create_multipart_upload(Bucket=s3_bucket, Key="backups/incomplete/blog-y.tar.gz")
    # Not the backups' business: left alone.
    s3.create_multipart_upload(Bucket=s3_bucket, Key="blog/images/1/original.jpg")
    s3.put_object(Bucket=s3_bucket, Key="backups/notes.txt.sha256", Body=b"mine")

    assert target.cleanup() == 4
    uploads = s3.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == ["blog/images/1/original.jpg"]
    assert sorted(_keys(s3, s3_bucket)) == sorted(
        [good, good + ".sha256", "backups/notes.txt.sha256"]
    )
    assert [b.key for b in target.list(with_checksums=True) if b.good] == [good]
