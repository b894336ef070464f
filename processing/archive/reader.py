"""Read and verify an archive in one streaming pass."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .format import (
    COMPRESSIONS,
    COPY_BUFSIZE,
    DATA_MEMBER,
    FORMAT,
    MANIFEST_MEMBER,
    MAX_MANIFEST_SIZE,
    MEDIA_PREFIX,
    READABLE_VERSIONS,
    SHA256_RE,
    TAR_BUFSIZE,
    ArchiveError,
    Readable,
    media_name_problem,
    record_problem,
)
from .streams import GunzipReader, HashingReader, archive_errors


@dataclass
class _ReadState:
    """What the reader has seen so far, to check against the manifest at the end."""

    seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifest: Any = None
    have_manifest: bool = False

    def admit(self, member: tarfile.TarInfo) -> None:
        """Enforce member order, names and types before touching the data."""
        name = member.name
        if self.have_manifest:
            raise ArchiveError(f"unexpected member {name} after {MANIFEST_MEMBER}")
        if not self.seen and name != DATA_MEMBER:
            raise ArchiveError(
                f"not a blog backup: first member is {name!r}, expected {DATA_MEMBER}"
            )
        if name in self.seen:
            raise ArchiveError(f"duplicate member {name}")
        if name not in (DATA_MEMBER, MANIFEST_MEMBER) and not _is_media_member(name):
            raise ArchiveError(f"unexpected member {name!r}")
        if not member.isreg():
            raise ArchiveError(f"member {name}: not a regular file")


def _is_media_member(name: str) -> bool:
    key = name[len(MEDIA_PREFIX) :]
    return name.startswith(MEDIA_PREFIX) and media_name_problem(key) is None


def _iter_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        with archive_errors():
            member = tar.next()
        if member is None:
            return
        # Stream mode needs no history; keep memory flat (an attribute typeshed omits).
        tar.members.clear()  # type: ignore[attr-defined]
        yield member


def _parse_record(raw: bytes, number: int) -> dict[str, Any]:
    where = f"record {number} of {DATA_MEMBER}"
    try:
        record: dict[str, Any] = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{where} is not valid UTF-8") from exc
    except ValueError as exc:
        raise ArchiveError(f"{where} is not valid JSON") from exc
    problem = record_problem(record)
    if problem:
        raise ArchiveError(f"{where}: {problem}")
    return record


def _read_records(
    stream: HashingReader, on_record: Callable[[dict[str, Any]], None] | None
) -> None:
    lines = io.BufferedReader(stream, buffer_size=COPY_BUFSIZE)
    for number, raw in enumerate(lines, 1):
        record = _parse_record(raw, number)
        if on_record is not None:
            on_record(record)


def _read_manifest(stream: HashingReader, member: tarfile.TarInfo) -> Any:
    if member.size > MAX_MANIFEST_SIZE:
        raise ArchiveError(f"{MANIFEST_MEMBER} is implausibly large ({member.size} bytes)")
    try:
        return json.loads(stream.read().decode("utf-8"))
    except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
        raise ArchiveError(f"{MANIFEST_MEMBER} is not valid JSON") from exc


def _read_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    state: _ReadState,
    on_record: Callable[[dict[str, Any]], None] | None,
    on_media: Callable[[str, Readable], None] | None,
) -> None:
    state.admit(member)
    with archive_errors():
        fileobj = tar.extractfile(member)
    assert fileobj is not None  # admit() lets regular files only
    stream = HashingReader(fileobj, guard=archive_errors)
    if member.name == MANIFEST_MEMBER:
        state.manifest, state.have_manifest = _read_manifest(stream, member), True
        return
    if member.name == DATA_MEMBER:
        _read_records(stream, on_record)
    elif on_media is not None:
        on_media(member.name[len(MEDIA_PREFIX) :], stream)
    stream.drain()
    state.seen[member.name] = {"sha256": stream.hexdigest(), "size": stream.size}


def _check_manifest_fields(manifest: Any) -> dict[str, Any]:
    """Refuse foreign or future archives before comparing members."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(
            f"not a blog backup: {MANIFEST_MEMBER} does not declare format {FORMAT!r}"
        )
    version = manifest.get("format_version")
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ArchiveError(f"unsupported format_version {version!r}")
    for key, kind in (
        ("app_version", str),
        ("created_at", str),
        ("key_prefix", str),
        ("counts", dict),
        ("members", dict),
    ):
        if not isinstance(manifest.get(key), kind):
            raise ArchiveError(f"{MANIFEST_MEMBER}: {key!r} is missing or not a {kind.__name__}")
    try:
        datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    except ValueError as exc:
        raise ArchiveError(f"{MANIFEST_MEMBER}: created_at is not an ISO-8601 timestamp") from exc
    for name, entry in manifest["members"].items():
        if not _is_member_entry(entry, version):
            raise ArchiveError(f"{MANIFEST_MEMBER}: entry for {name} is malformed")
    return manifest


def _is_member_entry(entry: Any, version: int) -> bool:
    if not isinstance(entry, dict):
        return False
    # Version 2 says how each member was written; the gzip stream reads the same either way.
    if version >= 2 and entry.get("compression") not in COMPRESSIONS:
        return False
    return (
        isinstance(entry.get("sha256"), str)
        and SHA256_RE.fullmatch(entry["sha256"]) is not None
        and isinstance(entry.get("size"), int)
        and not isinstance(entry["size"], bool)
        and entry["size"] >= 0
    )


def _compare_members(seen: dict[str, dict[str, Any]], listed: dict[str, dict[str, Any]]) -> None:
    for name, actual in seen.items():
        expected = listed.get(name)
        if expected is None:
            raise ArchiveError(f"member {name} is not listed in {MANIFEST_MEMBER}")
        if expected["size"] != actual["size"]:
            raise ArchiveError(
                f"member {name}: size mismatch ({MANIFEST_MEMBER} says {expected['size']} "
                f"bytes, archive has {actual['size']})"
            )
        if expected["sha256"] != actual["sha256"]:
            raise ArchiveError(f"member {name}: checksum mismatch")
    for name in listed:
        if name not in seen:
            raise ArchiveError(
                f"member {name} listed in {MANIFEST_MEMBER} is missing from the archive"
            )


def _finish(state: _ReadState) -> dict[str, Any]:
    if not state.seen and not state.have_manifest:
        raise ArchiveError("not a blog backup: the tar archive is empty")
    if not state.have_manifest:
        raise ArchiveError(f"{MANIFEST_MEMBER} is missing (archive is incomplete)")
    manifest = _check_manifest_fields(state.manifest)
    _compare_members(state.seen, manifest["members"])
    return manifest


def _open_tar(gz: GunzipReader) -> tarfile.TarFile:
    with archive_errors():
        try:
            # Stream mode only calls read(); typeshed asks for a whole file object.
            return tarfile.open(  # type: ignore[call-overload,no-any-return]
                fileobj=gz, mode="r|", bufsize=TAR_BUFSIZE, encoding="utf-8"
            )
        except tarfile.ReadError as exc:
            raise ArchiveError(f"not a blog backup: not a tar archive ({exc})") from exc


def read_archive(
    inp: Readable,
    *,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_media: Callable[[str, Readable], None] | None = None,
) -> dict[str, Any]:
    """Stream through an archive, verifying everything; return its manifest.

    ``on_record(record)`` gets each data.jsonl record (canonical JSON shape);
    ``on_media(storage_key, stream)`` gets each media file as a stream to read
    (not buffered whole); unread bytes are drained and hashed afterwards.
    Callbacks run BEFORE verification completes (the manifest is last): call
    :func:`verify_archive` first and only then this with callbacks. Raises
    ArchiveError for any problem; callback exceptions propagate unchanged.
    """
    gz = GunzipReader(inp)
    state = _ReadState()
    with _open_tar(gz) as tar:
        for member in _iter_members(tar):
            _read_member(tar, member, state, on_record, on_media)
    with archive_errors():
        gz.finish(tar.offset)
    return _finish(state)


def verify_archive(inp: Readable) -> dict[str, Any]:
    """Pass 1 of a restore: check the whole archive, write nothing, return the manifest."""
    return read_archive(inp)
