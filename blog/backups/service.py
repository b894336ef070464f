"""Backup, verify, restore and retention: what the job, the CLI and the page share.

Plain functions over a data layer, a media storage and a backup target, so they run
the same in an RQ worker (jobs/backup.py), in `flask backup ...` and in tests.
The pieces: blog/data/keys.py (which keys are what), blog/data/records.py (how to
read and write them), processing/archive/ (the archive format), targets.py (where it
goes).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from redis.exceptions import LockError

from processing.archive import (
    ArchiveError,
    ArchiveSummary,
    MediaItem,
    read_archive,
    verify_archive,
    write_archive,
)
from processing.archive.format import Readable, ReadableFile, Writable
from processing.archive.streams import HashingReader
from processing.images import MIME_BY_EXTENSION

from ..data import DataLayer
from ..data.records import Exporter, Importer, delete_app_data, has_app_data
from ..search import service as search_service
from ..storage import MediaNotFound, MediaStorage
from ..version import __version__
from .targets import BackupInfo, BackupNotFound, BackupTarget

log = logging.getLogger(__name__)

# The lock that keeps backups and restores one at a time expires LOCK_SECONDS after the
# last sign of life of its holder (refreshed while bytes flow), so a run killed with
# SIGKILL blocks the next one for minutes, not hours.
LOCK_SECONDS = 600
LOCK_REFRESH_SECONDS = 30

# progress(step, done, total): step is "data" (records), "media" (bytes read from media
# storage) or "archive" (compressed bytes written); total is None when unknown.
Progress = Callable[[str, int, int | None], None]


class BackupBusy(RuntimeError):
    """Another backup or restore holds the lock."""


class RestoreRefused(RuntimeError):
    """The store already holds data and --force was not given."""


class RestoreFailed(RuntimeError):
    """The archive was good but writing it failed part-way."""


class _RunLock:
    """The backup lock (redis-py's Lock), held for one run; beat() pushes its expiry
    back while work goes on."""

    def __init__(self, data: DataLayer, what: str) -> None:
        self._lock = data.backups.lock(LOCK_SECONDS)
        self._what, self._lock_key, self._last = what, data.keys.backup_lock, 0.0

    def __enter__(self) -> _RunLock:
        if not self._lock.acquire():
            raise BackupBusy(
                f"cannot start the {self._what}: another backup or restore is "
                f"running (lock {self._lock_key} is held)"
            )
        self._last = time.monotonic()
        return self

    @contextlib.contextmanager
    def beating(self) -> Iterator[None]:
        """Around each read of an archive: reading is a sign of life too."""
        self.beat()
        yield

    def beat(self) -> None:
        if time.monotonic() - self._last >= LOCK_REFRESH_SECONDS:
            self._last = time.monotonic()
            try:
                self._lock.reacquire()
            except LockError:  # expired meanwhile: the run goes on, as it would have
                log.warning("the %s lost its lock %s", self._what, self._lock_key)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(LockError):  # expired, or taken by someone else since
            self._lock.release()


def _keeping_lock_alive(progress: Progress | None, lock: _RunLock) -> Progress:
    """A progress callback that also refreshes the lock: bytes flowing mean we are alive."""

    def report(step: str, done: int, total: int | None) -> None:
        lock.beat()
        if progress:
            progress(step, done, total)

    return report


# ---- small stream helpers ------------------------------------------------------------


class _CountingReader:
    """Wraps a media file so its bytes count toward progress while the archive reads."""

    def __init__(
        self, raw: ReadableFile, counter: list[int], total: int, progress: Progress | None
    ) -> None:
        self._raw, self._counter, self._total, self._progress = raw, counter, total, progress

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._counter[0] += len(data)
        if self._progress:
            self._progress("media", self._counter[0], self._total)
        return data

    def __enter__(self) -> _CountingReader:
        self._raw.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._raw.__exit__(kind, error, tb)


class _CountsAtManifestTime(Mapping[str, int]):
    """The exporter's counts as they are when the manifest is written (last)."""

    def __init__(self, exporter: Exporter) -> None:
        self._exporter = exporter

    def _now(self) -> dict[str, int]:
        return self._exporter.counts.as_dict()

    def __getitem__(self, key: str) -> int:
        return self._now()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._now())

    def __len__(self) -> int:
        return len(self._now())


# ---- backup ---------------------------------------------------------------------------


def _media_size(storage: MediaStorage) -> Callable[[str], int | None]:
    def size(key: str) -> int | None:
        try:
            return storage.size(key)
        except MediaNotFound:
            return None

    return size


def _unused_backup_key(target: BackupTarget, when: datetime) -> str:
    """The key for a run started at `when`; a second later if that one is taken."""
    for _ in range(60):
        key = target.new_key(when)
        try:
            target.info(key)
        except BackupNotFound:
            return key
        when += timedelta(seconds=1)
    raise RuntimeError("could not find a free backup name")


def run_backup(
    data: DataLayer,
    storage: MediaStorage,
    target: BackupTarget,
    config: Mapping,
    *,
    progress: Progress | None = None,
    trigger: str = "manual",
    job_id: str | None = None,
) -> dict:
    """Write one backup, check it, record the outcome in Redis, then apply retention.

    Returns the outcome; on failure records it and re-raises (so RQ can retry).
    """
    with _RunLock(data, "backup") as lock:
        return _run_backup(
            data, storage, target, config, _keeping_lock_alive(progress, lock), trigger, job_id
        )


def _run_backup(
    data: DataLayer,
    storage: MediaStorage,
    target: BackupTarget,
    config: Mapping,
    progress: Progress,
    trigger: str,
    job_id: str | None,
) -> dict:
    started = datetime.now(UTC)
    outcome: dict = {
        "started_at": started.timestamp(),
        "trigger": trigger,
        "job_id": job_id,
        "target": target.description,
        "ok": False,
    }
    try:
        cleaned = target.cleanup()
        if cleaned:
            log.info("removed %d leftovers of interrupted backups", cleaned)
        key = outcome["key"] = _unused_backup_key(target, started.replace(microsecond=0))
        info, counts = _write_backup(data, storage, target, key, started, progress)
        outcome.update(ok=True, size=info.size, sha256=info.sha256, counts=counts)
    except Exception as error:
        outcome.update(error=f"{type(error).__name__}: {error}", finished_at=time.time())
        data.backups.record(outcome)
        raise
    try:
        outcome["deleted"] = apply_retention(target, config)
    except Exception as error:  # the backup itself is good
        log.exception("retention failed")
        outcome["retention_error"] = f"{type(error).__name__}: {error}"
    outcome["finished_at"] = time.time()
    data.backups.record(outcome)
    return outcome


def _write_backup(
    data: DataLayer,
    storage: MediaStorage,
    target: BackupTarget,
    key: str,
    started: datetime,
    progress: Progress,
) -> tuple[BackupInfo, dict[str, int]]:
    """Stream records and media into an archive stored under `key`; (info, counts)."""
    exporter = Exporter(
        data.redis, data.keys, _media_size(storage), progress=lambda n: progress("data", n, None)
    )

    def media() -> Iterator[MediaItem]:
        files = exporter.media_files()  # records() is consumed by now
        total, counter = sum(size for _, size in files), [0]

        def opener(name: str) -> Callable[[], _CountingReader]:
            return lambda: _CountingReader(storage.open(name), counter, total, progress)

        for name, size in files:
            yield MediaItem(name, size, opener(name))

    def write_archive_into(out: Writable) -> ArchiveSummary:
        return write_archive(
            out,
            exporter.records(),
            media(),
            app_version=__version__,
            key_prefix=data.keys.prefix,
            # write_archive reads the counts only when it writes the manifest, last:
            # this view then holds the final figures.
            counts=_CountsAtManifestTime(exporter),
            created_at=started,
            on_write=lambda size: progress("archive", size, None),
        )

    return target.write(key, write_archive_into), exporter.counts.as_dict()


# ---- retention ------------------------------------------------------------------------


def plan_retention(
    backups: list[BackupInfo], now: datetime, keep_days: int, keep_min: int
) -> list[BackupInfo]:
    """Backups to delete: older than keep_days, except the newest keep_min good ones.

    The newest good backup is always kept (keep_min is at least 1), and so is anything
    younger than keep_days, good or not.
    """
    good = sorted((b for b in backups if b.good), key=lambda b: b.created_at, reverse=True)
    kept = {b.key for b in good[: max(keep_min, 1)]}
    cutoff = now - timedelta(days=keep_days)
    return [b for b in backups if b.key not in kept and b.created_at < cutoff]


def apply_retention(
    target: BackupTarget, config: Mapping, now: datetime | None = None
) -> list[str]:
    doomed = plan_retention(
        target.list(with_checksums=True),
        now or datetime.now(UTC),
        int(config.get("BACKUP_KEEP_DAYS", 30)),
        int(config.get("BACKUP_KEEP_MIN", 7)),
    )
    for backup in doomed:
        target.delete(backup.key)
        log.info("retention: deleted %s", backup.key)
    return [b.key for b in doomed]


# ---- verify and restore ---------------------------------------------------------------


def _read_checked(
    target: BackupTarget, info: BackupInfo, lock: _RunLock | None = None, **callbacks: Any
) -> dict:
    """One full pass over a stored archive: every member checksum, every record, and
    the SHA-256 of the whole file against the one recorded at backup time."""
    if info.sha256 is None:
        raise ArchiveError(
            f"backup {info.key} has no recorded SHA-256 (not written by a "
            "completed backup run): refusing it"
        )
    with target.open(info.key, info.version) as raw:
        # Hashes the archive bytes as the reader pulls them, to compare with the
        # checksum recorded when the backup was stored.
        reader = HashingReader(raw, guard=lock.beating if lock else contextlib.nullcontext)
        manifest = read_archive(reader, **callbacks) if callbacks else verify_archive(reader)
        reader.drain()
    if reader.size != info.size:
        raise ArchiveError(
            f"backup {info.key}: read {reader.size} bytes, stored size is {info.size}"
        )
    if reader.hexdigest() != info.sha256:
        raise ArchiveError(
            f"backup {info.key}: the archive's SHA-256 does not match the "
            "one recorded when it was stored (corrupt or altered)"
        )
    return manifest


def verify_backup(target: BackupTarget, key: str) -> tuple[BackupInfo, dict]:
    """Download and check a backup; raises BackupNotFound or ArchiveError."""
    info = target.info(key)
    return info, _read_checked(target, info)


def restore_backup(
    data: DataLayer,
    storage: MediaStorage,
    target: BackupTarget,
    key: str,
    *,
    force: bool = False,
) -> dict:
    """Restore a backup into Redis and media storage, in two passes.

    Pass 1 verifies the whole archive and writes nothing: a corrupt or altered archive
    raises ArchiveError with Redis and media untouched. Only then are existing app keys
    deleted (with force) and pass 2 writes, re-reading the same object version.
    """
    info = target.info(key)
    with _RunLock(data, "restore") as lock:
        if has_app_data(data.redis, data.keys) and not force:
            raise RestoreRefused(
                f"Redis already holds blog data under the prefix {data.keys.prefix!r}. "
                "Restoring would mix two states; use --force to delete that data and "
                "replace it with the backup."
            )
        manifest = _read_checked(target, info, lock)  # pass 1: nothing written yet
        deleted = delete_app_data(data.redis, data.keys) if force else 0
        importer = Importer(data.redis, data.keys)

        def on_media(name: str, stream: Readable) -> None:
            ext = name.rsplit(".", 1)[-1].lower()
            storage.put(name, stream.read(), MIME_BY_EXTENSION.get(ext, "application/octet-stream"))
            importer.counts.media_files += 1

        try:
            _read_checked(target, info, lock, on_record=importer.add, on_media=on_media)
            indexes = importer.finish()
            # The search index is derived too: rebuilt from the restored posts.
            indexes["search"] = search_service.reindex(data)["posts"]
        except Exception as error:
            raise RestoreFailed(
                f"the restore stopped part-way ({type(error).__name__}: {error}); the "
                "store is incomplete: fix the cause and run the restore again with "
                "--force"
            ) from error
    return {
        "key": key,
        "created_at": manifest["created_at"],
        "deleted_keys": deleted,
        **importer.counts.as_dict(),
        "indexes": indexes,
    }
