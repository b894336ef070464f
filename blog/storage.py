"""Media storage: one small interface, two backends (a local directory, or S3).

The web and worker processes share nothing but Redis and this storage: on a PaaS each
process has its own ephemeral disk, so production uses S3 (or an S3-compatible store).
Keys are '/'-separated paths such as `incoming/<id>` (raw uploads, never served) and
`images/<id>/original.jpg`.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from processing.archive.format import Readable, ReadableFile, media_name_problem


class MediaNotFound(KeyError):
    pass


class MediaStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def open(self, key: str) -> ReadableFile: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...
    def public_url(self, key: str) -> str | None: ...
    def keys(self, prefix: str = "") -> Iterator[str]: ...
    def put_file(self, key: str, source: Readable, content_type: str) -> None: ...
    def download_url(self, key: str, filename: str, expires: int) -> str | None: ...


def s3_not_found(error: Exception) -> bool:
    """A botocore ClientError that says the object (or key) does not exist."""
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") in ("404", "NoSuchKey")


@contextlib.contextmanager
def atomic_file(path: Path, temp_prefix: str, suffix: str = "") -> Iterator[io.BufferedWriter]:
    """A file that appears at `path` whole or not at all: what the block writes goes to a
    temporary file `temp_prefix*suffix` in the same directory, which is fsynced and renamed
    over `path` when the block ends without an error (and removed when it raises)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix, suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_file_atomically(path: Path, data: bytes, temp_prefix: str) -> None:
    """Write `data` to `path` whole or not at all (see atomic_file)."""
    with atomic_file(path, temp_prefix) as f:
        f.write(data)


def _safe_key(key: str) -> str:
    """A key that cannot leave the media root (the archive's rule for media names)."""
    problem = media_name_problem(key)
    if problem:
        raise ValueError(f"invalid media key {key!r}: {problem}")
    return key


TEMP_PREFIX = ".part-"  # a write in progress; never listed


class LocalStorage:
    """Files under one directory; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, data, TEMP_PREFIX)

    def put_file(self, key: str, source: Readable, content_type: str) -> None:
        """Like put, streamed from a file (large documents): all or nothing."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, TEMP_PREFIX) as f:
            shutil.copyfileobj(source, f, 1024 * 1024)

    def download_url(self, key: str, filename: str, expires: int) -> str | None:
        return None  # the app streams local files to their owner itself

    def get(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def open(self, key: str) -> ReadableFile:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise MediaNotFound(key) from None

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise MediaNotFound(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def public_url(self, key: str) -> str | None:
        return None  # the app serves local files itself

    def keys(self, prefix: str = "") -> Iterator[str]:
        base = self.root / prefix if prefix else self.root
        if base.exists():
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.name.startswith(TEMP_PREFIX):
                    yield path.relative_to(self.root).as_posix()


class S3Storage:
    """Objects in one bucket under an optional prefix, through boto3."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        public_base_url: str | None = None,
        client: Any = None,  # a boto3 S3 client (boto3 ships no types)
    ) -> None:
        import boto3

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        from botocore.config import Config

        # Signature V4 everywhere: presigned links then say how long they live
        # (X-Amz-Expires), and every region accepts them.
        self.client = client or boto3.client(
            "s3", endpoint_url=endpoint_url or None, config=Config(signature_version="s3v4")
        )

    def _key(self, key: str) -> str:
        return self.prefix + _safe_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def put_file(self, key: str, source: Readable, content_type: str) -> None:
        """Streamed in parts (multipart past 8 MiB): the object appears only complete."""
        self.client.upload_fileobj(
            source, self.bucket, self._key(key), ExtraArgs={"ContentType": content_type}
        )

    def download_url(self, key: str, filename: str, expires: int) -> str | None:
        """A presigned GET that saves the object as `filename`, valid `expires` seconds."""
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=expires,
        )
        return url

    def get(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> ReadableFile:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as error:
            if s3_not_found(error):
                raise MediaNotFound(key) from None
            raise

    def size(self, key: str) -> int:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if s3_not_found(error):
                raise MediaNotFound(key) from None
            raise
        return head["ContentLength"]

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def public_url(self, key: str) -> str | None:
        if self.public_base_url:
            return f"{self.public_base_url}/{self._key(key)}"
        return None

    def keys(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix) :]


def storage_from_config(config: Mapping) -> MediaStorage:
    """S3 when S3_BUCKET is set (credentials from the standard AWS_* variables), else
    the local MEDIA_ROOT directory."""
    if config.get("S3_BUCKET"):
        return S3Storage(
            config["S3_BUCKET"],
            config.get("S3_PREFIX", ""),
            config.get("S3_ENDPOINT_URL"),
            config.get("MEDIA_URL"),
        )
    return LocalStorage(config["MEDIA_ROOT"])


def app_storage() -> MediaStorage:
    """The current app's media storage (made once by create_app)."""
    from flask import current_app

    return current_app.extensions["media_storage"]
