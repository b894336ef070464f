"""Where backups go: an S3 bucket (multipart, streamed) or a local directory.

Both targets keep one promise: an object or file under a backup's name is a complete
archive whose size and SHA-256 were checked after it was stored, and it never appears
without its recorded SHA-256. A run that fails leaves nothing under that name:

* S3: the archive is streamed into a multipart upload under its final key (parts of
  `BACKUP_PART_MB`, two in flight, each with its SHA-256), aborted on any error. S3
  creates no object before CompleteMultipartUpload, so the final name appears whole, at
  once. The archive's SHA-256 is only known at the end of the stream, after the
  object's metadata was fixed by CreateMultipartUpload, so it goes in a sidecar object
  `<key>.sha256` (sha256sum format) written before the upload is completed. Then HEAD
  checks the size and S3's composite SHA-256 of the parts. Backups written by earlier
  versions (a server-side copy set it) carry the checksum in their metadata
  (`x-amz-meta-sha256`) instead: both are read.
* Local: a temporary file in the same directory, fsynced, then `os.replace`; the
  checksum goes in a sidecar `<name>.sha256` (sha256sum format) written first.

Keys are `<BACKUP_PREFIX>/YYYY/MM/DD/blog-YYYYmmddTHHMMSSZ.tar.gz` in S3 and
`YYYY/MM/DD/blog-YYYYmmddTHHMMSSZ.tar.gz` under BACKUP_ROOT, in UTC.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from processing.archive.format import ReadableFile, Writable

from ..storage import atomic_file, s3_not_found, write_file_atomically

log = logging.getLogger(__name__)

MiB = 1024 * 1024
S3_MAX_PARTS = 10_000
CONTENT_TYPE = "application/gzip"
SIDECAR = ".sha256"  # beside each archive: its SHA-256, in sha256sum's format
SHA256_RE = re.compile(r"[0-9a-f]{64}")


def sidecar_text(sha256: str, name: str) -> bytes:
    return f"{sha256}  {name}\n".encode()


def sidecar_sha256(text: str) -> str | None:
    """The SHA-256 a sidecar records, or None if it holds none."""
    words = text.split()
    return words[0] if words and SHA256_RE.fullmatch(words[0]) else None


NAME_RE = re.compile(r"(\d{4})/(\d{2})/(\d{2})/blog-(\d{8}T\d{6}Z)\.tar\.gz")
EXAMPLE_NAME = "2025/01/31/blog-20250131T030000Z.tar.gz"


class BackupNotFound(LookupError):
    """No backup under that key (the message says what was expected)."""


class TargetError(RuntimeError):
    """The stored backup failed its check after upload, or the target misbehaved."""


class ArchiveResult(Protocol):
    sha256: str
    bytes_written: int


@dataclass(frozen=True)
class BackupInfo:
    key: str
    created_at: datetime  # from the key: when the run started, UTC
    size: int | None = None
    sha256: str | None = None  # from S3 metadata or the sidecar; None when unknown
    version: str | None = None  # S3 ETag or file identity: the same bytes on a re-read

    @property
    def good(self) -> bool:
        """Stored with its checksum, i.e. written completely by a run that checked it."""
        return self.sha256 is not None


def backup_name(when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{when:%Y/%m/%d}/blog-{when:%Y%m%dT%H%M%SZ}.tar.gz"


def name_time(name: str) -> datetime | None:
    match = NAME_RE.fullmatch(name)
    if not match:
        return None
    stamp = datetime.strptime(match.group(4), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if match.group(1, 2, 3) != (f"{stamp:%Y}", f"{stamp:%m}", f"{stamp:%d}"):
        return None
    return stamp


class BackupTarget(Protocol):
    description: str

    def new_key(self, when: datetime) -> str: ...
    def write(
        self, key: str, write_contents: Callable[[Writable], ArchiveResult]
    ) -> BackupInfo: ...
    def list(self, with_checksums: bool = False) -> list[BackupInfo]: ...
    def info(self, key: str) -> BackupInfo: ...
    def open(self, key: str, version: str | None = None) -> ReadableFile: ...
    def delete(self, key: str) -> None: ...
    def cleanup(self) -> int: ...


# ---- S3 -------------------------------------------------------------------------------


class MultipartWriter:
    """A writable stream that uploads what it is given as S3 multipart parts.

    Parts are `part_size` bytes (the last one may be smaller) uploaded by a small thread
    pool, at most `in_flight` at a time, so compression and upload overlap and memory
    stays near (in_flight + 1) * part_size whatever the archive's size. Each part goes
    with its SHA-256 (botocore computes it over the bytes it sends: in a trailer over
    HTTPS, so the payload is hashed once), S3 refuses a part that arrives different, and
    the object's composite checksum follows from the parts' (`composite_sha256`). An
    upload error surfaces at the next write, at finish() or at complete(); the caller
    must then call abort().
    """

    def __init__(
        self,
        client: Any,  # a boto3 S3 client (boto3 ships no types)
        bucket: str,
        key: str,
        part_size: int,
        extra: dict[str, str],
        in_flight: int = 2,
    ) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.part_size = part_size
        self.upload_id = client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=CONTENT_TYPE, ChecksumAlgorithm="SHA256", **extra
        )["UploadId"]
        # What write() got since the last part, by reference: each byte is copied once,
        # when its part is joined (1 MiB writes from the archive writer, 8 MiB parts).
        self._chunks: list[bytes | memoryview] = []
        self._buffered = 0
        self._parts: dict[int, dict] = {}
        self._futures: list[Future] = []
        self._slots = threading.BoundedSemaphore(in_flight)
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-part")
        self._next_part = 1

    # The archive writer calls only write() and flush().
    def writable(self) -> bool:
        return True

    def write(self, data: bytes | memoryview) -> int:
        self._raise_failed()
        # A caller may reuse a mutable buffer once write() returns; bytes cannot change.
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        written = len(view)
        while self._buffered + len(view) >= self.part_size:
            take = self.part_size - self._buffered
            self._chunks.append(view[:take])
            self._send(b"".join(self._chunks))
            self._chunks, self._buffered, view = [], 0, view[take:]
        if view:
            self._chunks.append(view)
            self._buffered += len(view)
        return written

    def flush(self) -> None:
        self._raise_failed()

    def _send(self, body: bytes) -> None:
        number = self._next_part
        if number > S3_MAX_PARTS:
            raise TargetError(
                f"archive exceeds {S3_MAX_PARTS} parts of {self.part_size} "
                "bytes: raise BACKUP_PART_MB"
            )
        self._next_part += 1
        self._slots.acquire()
        try:
            future = self._pool.submit(self._upload_part, number, body)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        self._futures.append(future)

    def _upload_part(self, number: int, body: bytes) -> None:
        reply = self.client.upload_part(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )
        self._parts[number] = {"ETag": reply["ETag"], "PartNumber": number}
        if reply.get("ChecksumSHA256"):
            self._parts[number]["ChecksumSHA256"] = reply["ChecksumSHA256"]

    def _raise_failed(self) -> None:
        for future in self._futures:
            error = future.exception() if future.done() else None
            if error is not None:
                raise error
        self._futures = [f for f in self._futures if not f.done()]

    def finish(self) -> None:
        """Send what is buffered and wait until every part is stored."""
        if self._buffered or self._next_part == 1:
            self._send(b"".join(self._chunks))
            self._chunks, self._buffered = [], 0
        for future in self._futures:
            future.result()
        self._pool.shutdown()

    @property
    def composite_sha256(self) -> str | None:
        """The checksum S3 gives the completed object: the SHA-256 of the parts'
        SHA-256 digests, base64, then `-<number of parts>` (after finish()). None when
        the store did not answer a part's checksum."""
        parts = [part for _, part in sorted(self._parts.items())]
        if not parts or not all("ChecksumSHA256" in part for part in parts):
            return None
        digests = b"".join(base64.b64decode(part["ChecksumSHA256"]) for part in parts)
        return f"{base64.b64encode(hashlib.sha256(digests).digest()).decode()}-{len(parts)}"

    def complete(self) -> None:
        """Make the object appear under its key (after finish())."""
        parts = [part for _, part in sorted(self._parts.items())]
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=self.key,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
        )

    def abort(self) -> None:
        """Best effort (S3 may be unreachable): what cannot be aborted now is aborted by
        the next run's cleanup(), and by a bucket lifecycle rule (docs/backup.md)."""
        self._chunks, self._buffered = [], 0
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
        except Exception as error:  # the original error matters more
            log.warning(
                "could not abort multipart upload %s of %s: %s", self.upload_id, self.key, error
            )


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client with bounded retries and timeouts (boto3 ships no types)."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=120
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, config=config)


class S3Target:
    def __init__(
        self,
        bucket: str,
        prefix: str = "backups",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        sse_kms_key_id: str = "",
        part_size: int = 8 * MiB,
        in_flight: int = 2,
    ) -> None:
        if part_size < 5 * MiB:
            raise ValueError("S3 parts must be at least 5 MiB")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or s3_client(endpoint_url)
        self.sse_kms_key_id = sse_kms_key_id
        self.part_size = part_size
        self.in_flight = in_flight
        self.description = f"s3://{bucket}/{self.prefix}/"

    @property
    def sse(self) -> dict:
        if self.sse_kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.sse_kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def new_key(self, when: datetime) -> str:
        return f"{self.prefix}/{backup_name(when)}"

    def _stamp(self, key: str) -> datetime | None:
        """When the backup under this key was made; None if it is no backup's key."""
        return name_time(key[len(self.prefix) + 1 :]) if key.startswith(self.prefix + "/") else None

    def _check_key(self, key: str) -> datetime:
        stamp = self._stamp(key)
        if stamp is None:
            raise BackupNotFound(
                f"{key!r} is not a backup key: expected "
                f"{self.prefix}/{EXAMPLE_NAME} (see `flask backup list`)"
            )
        return stamp

    def write(self, key: str, write_contents: Callable[[Writable], ArchiveResult]) -> BackupInfo:
        self._check_key(key)
        upload = MultipartWriter(
            self.client, self.bucket, key, self.part_size, self.sse, self.in_flight
        )
        stage = "parts"
        try:
            result = write_contents(upload)
            upload.finish()
            stage = "sidecar"
            # The checksum first: the archive never appears without it.
            self._put_sidecar(key, result.sha256)
            stage = "complete"
            upload.complete()
        except BaseException:
            upload.abort()
            if stage == "complete":  # S3 may have completed it and the answer got lost
                self._delete_quietly(key)
            if stage != "parts":
                self._delete_quietly(key + SIDECAR)
            raise
        return self._check_stored(key, result, upload.composite_sha256)

    def _put_sidecar(self, key: str, sha256: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key + SIDECAR,
            Body=sidecar_text(sha256, key.rsplit("/", 1)[1]),
            ContentType="text/plain",
            ChecksumAlgorithm="SHA256",
            **self.sse,
        )

    def _check_stored(self, key: str, result: ArchiveResult, composite: str | None) -> BackupInfo:
        """HEAD the stored object: its size, its recorded SHA-256 (read back) and the
        checksum S3 computed over the stored parts, which must be ours."""
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            info = self._info_from_head(key, head)
        except ClientError as error:
            raise TargetError(f"backup {key} cannot be found after upload: {error}") from None
        problem = None
        if info.size != result.bytes_written:
            problem = f"stored size {info.size} != {result.bytes_written} bytes written"
        elif info.sha256 != result.sha256:
            problem = "the stored sha256 does not match the archive"
        elif not _same_checksum(head.get("ChecksumSHA256"), composite, result.sha256):
            problem = "the SHA-256 S3 computed over the stored parts does not match"
        if problem:
            # never leave a bad object under a backup's name
            self._delete_quietly(key)
            self._delete_quietly(key + SIDECAR)
            raise TargetError(f"backup {key} failed its check after upload: {problem}")
        return info

    def _delete_quietly(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            log.warning("could not delete %s: %s", key, error)

    def _objects(self) -> Iterator[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + "/"):
            yield from page.get("Contents", [])

    def list(self, with_checksums: bool = False) -> list[BackupInfo]:
        found = []
        for item in self._objects():
            stamp = self._stamp(item["Key"])
            if stamp is None:
                continue
            if with_checksums:
                with contextlib.suppress(BackupNotFound):  # deleted meanwhile
                    found.append(self.info(item["Key"]))
            else:
                found.append(BackupInfo(item["Key"], stamp, item["Size"], version=item.get("ETag")))
        return sorted(found, key=lambda b: (b.created_at, b.key), reverse=True)

    def info(self, key: str) -> BackupInfo:
        from botocore.exceptions import ClientError

        stamp = self._check_key(key)
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if s3_not_found(error):
                raise BackupNotFound(f"no backup {key!r} in {self.description}") from None
            raise
        return self._info_from_head(key, head, stamp)

    def _info_from_head(self, key: str, head: dict, stamp: datetime | None = None) -> BackupInfo:
        # Backups written by earlier versions carry it in their metadata.
        recorded = head.get("Metadata", {}).get("sha256")
        sha = sidecar_sha256(recorded) if recorded else self._read_sidecar(key)
        return BackupInfo(
            key, stamp or self._check_key(key), head["ContentLength"], sha, head.get("ETag")
        )

    def _read_sidecar(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key + SIDECAR)["Body"]
            text = body.read(4096).decode("utf-8", "replace")
        except ClientError as error:
            if s3_not_found(error):
                return None
            raise
        return sidecar_sha256(text)

    def open(self, key: str, version: str | None = None) -> ReadableFile:
        from botocore.exceptions import ClientError

        self._check_key(key)
        extra = {"IfMatch": version} if version else {}
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as error:
            if s3_not_found(error):
                raise BackupNotFound(f"no backup {key!r} in {self.description}") from None
            if error.response.get("Error", {}).get("Code") in ("412", "PreconditionFailed"):
                raise TargetError(f"backup {key} changed while it was being read") from None
            raise

    def delete(self, key: str) -> None:
        self._check_key(key)
        # The archive first: a sidecar left alone is removed by cleanup(), an archive
        # without its checksum would only count as a bad backup.
        self.client.delete_object(Bucket=self.bucket, Key=key)
        self.client.delete_object(Bucket=self.bucket, Key=key + SIDECAR)

    def cleanup(self) -> int:
        """Abort the multipart uploads of runs that died or could not reach S3 to abort,
        and delete what they left: sidecars without their archive, and the temporary
        objects of earlier versions (under `incomplete/`). Call only while holding the
        backup lock: no other run is uploading then."""
        removed = 0
        legacy = f"{self.prefix}/incomplete/"
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + "/"):
            for upload in page.get("Uploads", []):
                if self._stamp(upload["Key"]) is not None or upload["Key"].startswith(legacy):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    removed += 1
        keys = {item["Key"] for item in self._objects()}
        for key in sorted(keys):
            orphan = (
                key.endswith(SIDECAR)
                and self._stamp(key[: -len(SIDECAR)]) is not None
                and key[: -len(SIDECAR)] not in keys
            )
            if orphan or key.startswith(legacy):
                self.client.delete_object(Bucket=self.bucket, Key=key)
                removed += 1
        return removed


def _same_checksum(stored: str | None, composite: str | None, sha256: str) -> bool:
    """Whether the checksum S3 reports for the object (HEAD with ChecksumMode) is ours:
    the composite of our parts' SHA-256s (`<base64>-<parts>`; moto, for one, leaves the
    suffix out) or, from a store that hashes whole objects, the archive's SHA-256. A
    store that keeps no checksums proves nothing either way."""
    if not stored or composite is None:
        return True
    whole = base64.b64encode(bytes.fromhex(sha256)).decode()
    base, _, parts = stored.partition("-")
    expected_base, _, expected_parts = composite.partition("-")
    return stored == whole or (base == expected_base and parts in ("", expected_parts))


# ---- local directory ------------------------------------------------------------------

TEMP_PREFIX = ".incomplete-"


class LocalTarget:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.description = f"{self.root}/"

    def new_key(self, when: datetime) -> str:
        return backup_name(when)

    def _path(self, key: str) -> tuple[Path, datetime]:
        stamp = name_time(key)
        if stamp is None:
            raise BackupNotFound(
                f"{key!r} is not a backup key: expected {EXAMPLE_NAME} (see `flask backup list`)"
            )
        return self.root / key, stamp

    def write(self, key: str, write_contents: Callable[[Writable], ArchiveResult]) -> BackupInfo:
        path, _ = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, TEMP_PREFIX, suffix=".tar.gz") as out:
            result = write_contents(out)
            # The checksum first: an archive never appears without its sidecar.
            sidecar = path.with_name(path.name + SIDECAR)
            write_file_atomically(sidecar, sidecar_text(result.sha256, path.name), TEMP_PREFIX)
        _fsync_dir(path.parent)
        info = self.info(key)
        if info.size != result.bytes_written or info.sha256 != result.sha256:
            self.delete(key)
            raise TargetError(f"backup {key} failed its check after writing")
        return info

    def list(self, with_checksums: bool = False) -> list[BackupInfo]:
        found = []
        if self.root.is_dir():
            for path in self.root.glob("*/*/*/blog-*.tar.gz"):
                key = path.relative_to(self.root).as_posix()
                if name_time(key) is None:
                    continue
                with contextlib.suppress(BackupNotFound):
                    found.append(self.info(key))
        return sorted(found, key=lambda b: (b.created_at, b.key), reverse=True)

    def info(self, key: str) -> BackupInfo:
        path, stamp = self._path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise BackupNotFound(f"no backup {key!r} in {self.description}") from None
        try:
            sha = sidecar_sha256(path.with_name(path.name + SIDECAR).read_text())
        except FileNotFoundError:
            sha = None
        return BackupInfo(key, stamp, st.st_size, sha, f"{st.st_ino}:{st.st_mtime_ns}")

    def open(self, key: str, version: str | None = None) -> ReadableFile:
        path, _ = self._path(key)
        try:
            f = path.open("rb")
        except FileNotFoundError:
            raise BackupNotFound(f"no backup {key!r} in {self.description}") from None
        st = os.fstat(f.fileno())
        if version and version != f"{st.st_ino}:{st.st_mtime_ns}":
            f.close()
            raise TargetError(f"backup {key} changed while it was being read")
        return f

    def delete(self, key: str) -> None:
        path, _ = self._path(key)
        path.unlink(missing_ok=True)
        path.with_name(path.name + SIDECAR).unlink(missing_ok=True)

    def cleanup(self) -> int:
        """Remove temporary files of runs that died, and sidecars without an archive."""
        removed = 0
        if not self.root.is_dir():
            return 0
        for path in self.root.glob(f"*/*/*/{TEMP_PREFIX}*"):
            path.unlink(missing_ok=True)
            removed += 1
        for sidecar in self.root.glob(f"*/*/*/*{SIDECAR}"):
            if not sidecar.with_name(sidecar.name[: -len(SIDECAR)]).exists():
                sidecar.unlink(missing_ok=True)
                removed += 1
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def app_target() -> S3Target | LocalTarget:
    """The current app's backup target, built once per app (an S3 client is costly)."""
    from flask import current_app

    target = current_app.extensions.get("backup_target")
    if target is None:
        target = current_app.extensions["backup_target"] = target_from_config(current_app.config)
    return target


def target_from_config(config: Mapping[str, Any], client: Any = None) -> S3Target | LocalTarget:
    """S3 when BACKUP_BUCKET or S3_BUCKET is set (AWS_* credentials), else BACKUP_ROOT."""
    bucket = config.get("BACKUP_BUCKET") or config.get("S3_BUCKET")
    if bucket:
        return S3Target(
            bucket,
            config.get("BACKUP_PREFIX") or "backups",
            client=client,
            endpoint_url=config.get("BACKUP_ENDPOINT_URL") or config.get("S3_ENDPOINT_URL"),
            sse_kms_key_id=config.get("BACKUP_SSE_KMS_KEY_ID", ""),
            part_size=int(config.get("BACKUP_PART_MB", 8)) * MiB,
        )
    return LocalTarget(config.get("BACKUP_ROOT") or "var/backups")
