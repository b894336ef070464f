"""Unit tests for the backup archive format (processing/archive/); no Redis, no S3."""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processing.archive import (
    FORMAT_VERSION,
    ArchiveError,
    ArchiveSummary,
    MediaItem,
    read_archive,
    verify_archive,
    write_archive,
)

CREATED = datetime(2025, 1, 31, 2, 0, 0, tzinfo=UTC)
UNICODE = "emoji 😀🎉 RTL שלום عليكم CJK 漢字かな한글 combining é"
MB = 1 << 20


# --------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------


def typed_records() -> list[dict]:
    """One record of every type, Unicode everywhere, with and without TTL."""
    return [
        {"key": "post:1", "type": "string", "value": UNICODE, "ttl_ms": None},
        {"key": f"post:1:{UNICODE}", "type": "string", "value": "", "ttl_ms": 0},
        {
            "key": "post:1:meta",
            "type": "hash",
            "value": {"title": UNICODE, "عنوان": "值", "empty": ""},
            "ttl_ms": 86_400_000,
        },
        {"key": "tags", "type": "set", "value": sorted(["b", "a", "😀", "漢"]), "ttl_ms": None},
        {
            "key": "posts:by_date",
            "type": "zset",
            "value": [["post:1", -1.5], ["post:2", 0], ["post:3", 1e300], ["x", float("inf")]],
            "ttl_ms": None,
        },
        {"key": "queue", "type": "list", "value": ["b", "a", "b", UNICODE], "ttl_ms": 5},
        {"key": "ctl", "type": "string", "value": 'a\nb\r\n\u2028\u2029\x00\t"\\', "ttl_ms": 1},
        {"key": "emptyhash", "type": "hash", "value": {}, "ttl_ms": None},
        {"key": "emptylist", "type": "list", "value": [], "ttl_ms": None},
    ]


def many_records(n: int = 5_000) -> list[dict]:
    types = typed_records()
    return [{**types[i % len(types)], "key": f"k:{i}:{UNICODE[: i % 20]}"} for i in range(n)]


def media_item(name: str, data: bytes) -> MediaItem:
    return MediaItem(name=name, size=len(data), open=lambda: io.BytesIO(data))


@functools.cache
def sample_media() -> dict[str, bytes]:
    rng = random.Random(1)
    big = rng.randbytes(3 * MB) + b"\0" * MB  # incompressible, then compressible
    return {
        "empty.jpg": b"",
        "one.png": b"\x89",
        "2025/01/" + "ф" * 60 + " 😀.jpg": rng.randbytes(70_000),  # non-ASCII, > 100 bytes: PAX
        "2025/01/big.jpg": big,
    }


def write(records, media: dict[str, bytes], **kwargs) -> tuple[bytes, ArchiveSummary]:
    out = io.BytesIO()
    defaults = {"app_version": "1.2.3", "key_prefix": "blog:", "counts": {"keys": 1}}
    items = [media_item(n, d) for n, d in media.items()]
    summary = write_archive(out, records, items, **{"created_at": CREATED, **defaults, **kwargs})
    return out.getvalue(), summary


def read(data: bytes) -> tuple[list[dict], dict[str, bytes], dict]:
    records: list[dict] = []
    media: dict[str, bytes] = {}

    def on_media(name: str, stream) -> None:
        media[name] = stream.read()

    manifest = read_archive(io.BytesIO(data), on_record=records.append, on_media=on_media)
    return records, media, manifest


@functools.cache
def small_archive() -> bytes:
    """A small but complete archive, shared by the tampering tests."""
    noise = random.Random(2).randbytes(1000)
    media = {"a.jpg": b"A" * 3000 + noise, "dir/b.png": b"bbb", "z.gif": b""}
    return write(typed_records(), media)[0]


def members_of(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)), mode="r:") as tar:
        return [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar.getmembers()]


def build(members: list[tuple[tarfile.TarInfo | str, bytes]]) -> bytes:
    """A .tar.gz with exactly these members (names or TarInfos to copy)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, content in members:
            info = tarfile.TarInfo(info) if isinstance(info, str) else info
            if info.isreg():
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if info.isreg() else None)
    return gzip.compress(raw.getvalue())


def rewrite(
    data: bytes, edit: Callable[[list[tuple[tarfile.TarInfo, bytes]]], list], fix_manifest=False
) -> bytes:
    """Re-pack an archive after ``edit``; optionally recompute the manifest's
    member hashes, so only the edit itself (not the hashes) is wrong."""
    members = edit(members_of(data))
    if fix_manifest:
        members = with_fixed_manifest(members)
    return build(members)


def with_fixed_manifest(members: list) -> list:
    *body, (info, manifest_bytes) = members
    manifest = json.loads(manifest_bytes)
    manifest["members"] = {
        (i if isinstance(i, str) else i.name): {
            "sha256": hashlib.sha256(c).hexdigest(),
            "size": len(c),
            "compression": "deflate",
        }
        for i, c in body
    }
    return [*body, (info, json.dumps(manifest).encode())]


def edit_member(name: str, change: Callable[[bytes], bytes]):
    def edit(members):
        return [(i, change(c) if i.name == name else c) for i, c in members]

    return edit


def edit_manifest(change: Callable[[dict], None]):
    def on_bytes(content: bytes) -> bytes:
        manifest = json.loads(content)
        change(manifest)
        return json.dumps(manifest).encode()

    return edit_member("manifest.json", on_bytes)


def with_data_lines(lines: list[bytes]) -> bytes:
    """A consistent archive (hashes match) whose data.jsonl is exactly ``lines``."""
    return rewrite(
        small_archive(),
        edit_member("data.jsonl", lambda _: b"".join(line + b"\n" for line in lines)),
        fix_manifest=True,
    )


def expect_error(data: bytes, match: str) -> None:
    with pytest.raises(ArchiveError, match=match):
        verify_archive(io.BytesIO(data))


# --------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------


def test_round_trip_bytesio_every_type_unicode_and_sizes():
    records = typed_records() + many_records(5_000)
    data, summary = write(records, sample_media(), counts={"keys": len(records), "posts": 3})

    got_records, got_media, manifest = read(data)

    assert got_records == records
    assert got_media == sample_media()
    assert summary == ArchiveSummary(
        manifest=manifest,
        records=len(records),
        media=len(sample_media()),
        bytes_written=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert manifest["format"] == "blog-backup"
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert manifest["app_version"] == "1.2.3"
    assert manifest["created_at"] == "2025-01-31T02:00:00Z"
    assert manifest["key_prefix"] == "blog:"
    assert manifest["counts"] == {"keys": len(records), "posts": 3}
    for name, content in sample_media().items():
        entry = {
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "compression": "stored",  # sample media are all .jpg / .png / .gif
        }
        assert manifest["members"]["media/" + name] == entry


def test_member_order_and_plain_tar_tools_can_read_it():
    members = members_of(small_archive())
    names = [m.name for m, _ in members]
    assert names == ["data.jsonl", "media/a.jpg", "media/dir/b.png", "media/z.gif", "manifest.json"]
    data_lines = members[0][1].split(b"\n")  # not splitlines(): U+2028 is not a separator
    assert data_lines.pop() == b""
    assert [json.loads(line) for line in data_lines] == typed_records()
    assert json.loads(members[-1][1])["members"]["data.jsonl"] == {
        "sha256": hashlib.sha256(members[0][1]).hexdigest(),
        "size": len(members[0][1]),
        "compression": "deflate",
    }


def test_round_trip_through_real_pipes_with_threads():
    """Writer and reader each stream through an OS pipe, concurrently."""
    records = many_records(5_000)
    media = sample_media()
    read_fd, write_fd = os.pipe()
    seen: dict = {"records": [], "media": {}, "errors": []}
    tee = hashlib.sha256()

    class TeeReader(io.RawIOBase):  # hashes exactly the bytes that crossed the pipe
        def __init__(self, raw):
            self.raw = raw

        def read(self, n=-1):
            chunk = self.raw.read(n)
            tee.update(chunk)
            return chunk

    def reader() -> None:
        try:
            with os.fdopen(read_fd, "rb") as pipe:
                seen["manifest"] = read_archive(
                    TeeReader(pipe),
                    on_record=seen["records"].append,
                    on_media=lambda name, stream: seen["media"].__setitem__(name, stream.read()),
                )
        except Exception as exc:  # surfaced in the main thread
            seen["errors"].append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    with os.fdopen(write_fd, "wb") as pipe:
        items = [media_item(n, d) for n, d in media.items()]
        summary = write_archive(
            pipe, iter(records), iter(items), app_version="x", key_prefix="blog:", counts={}
        )
    thread.join(timeout=60)

    assert not seen["errors"]
    assert seen["records"] == records
    assert seen["media"] == media
    assert seen["manifest"] == summary.manifest
    assert tee.hexdigest() == summary.sha256


def test_empty_backup_round_trips():
    data, summary = write([], {})
    assert read(data) == ([], {}, summary.manifest)
    assert summary.manifest["members"] == {
        "data.jsonl": {
            "sha256": hashlib.sha256(b"").hexdigest(),
            "size": 0,
            "compression": "deflate",
        }
    }


def test_writer_normalises_python_shapes():
    records = [
        {"key": "s", "type": "set", "value": {"b", "a", "c"}},
        {"key": "z", "type": "zset", "value": [("m", 2), ("n", 1.5)], "ttl_ms": 7},
        {"key": "l", "type": "list", "value": ("x", "y")},
    ]
    got, _, _ = read(write(records, {})[0])
    assert got == [
        {"key": "s", "type": "set", "value": ["a", "b", "c"], "ttl_ms": None},
        {"key": "z", "type": "zset", "value": [["m", 2], ["n", 1.5]], "ttl_ms": 7},
        {"key": "l", "type": "list", "value": ["x", "y"], "ttl_ms": None},
    ]


def test_created_at_defaults_to_now_utc_and_is_converted_to_utc():
    before = datetime.now(UTC).replace(microsecond=0)
    out = io.BytesIO()
    manifest = write_archive(out, [], [], app_version="1", key_prefix="p:", counts={}).manifest
    stamp = datetime.strptime(manifest["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)

    paris = datetime(2025, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert write([], {}, created_at=paris)[1].manifest["created_at"] == "2025-06-01T10:00:00Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        write([], {}, created_at=datetime(2025, 1, 1))


def test_compresslevel_is_honoured():
    records = many_records(2_000)
    fast, _ = write(records, {}, compresslevel=1)
    small, _ = write(records, {}, compresslevel=9)
    assert len(small) < len(fast)
    assert read(fast)[0] == read(small)[0] == records


def test_media_files_are_opened_lazily_one_at_a_time_and_closed():
    state = {"open": 0, "max_open": 0, "opened": 0}

    class Tracked(io.BytesIO):
        def close(self):
            if not self.closed:
                state["open"] -= 1
            super().close()

    def opener(data: bytes):
        def open_() -> Tracked:
            state["open"] += 1
            state["opened"] += 1
            state["max_open"] = max(state["max_open"], state["open"])
            return Tracked(data)

        return open_

    def items() -> Iterator[MediaItem]:
        for i in range(200):
            assert state["opened"] == i  # nothing opened ahead of its turn
            yield MediaItem(f"m/{i}.jpg", 10, opener(b"%010d" % i))

    data = write_archive(
        io.BytesIO(), [], items(), app_version="1", key_prefix="p:", counts={}
    ).manifest
    assert len(data["members"]) == 201
    assert state == {"open": 0, "max_open": 1, "opened": 200}


# --------------------------------------------------------------------------
# Writer refuses bad input
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "match"),
    [
        ({"key": "k", "type": "stream", "value": "x"}, "record 2: unknown type 'stream'"),
        ({"key": "", "type": "string", "value": "x"}, "record 2: key must be a non-empty string"),
        ({"key": 5, "type": "string", "value": "x"}, "key must be a non-empty string"),
        ({"key": "k", "type": "string", "value": b"bytes"}, "must be a string"),
        ({"key": "k", "type": "hash", "value": {"f": 1}}, "string fields to string values"),
        ({"key": "k", "type": "list", "value": "abc"}, "a list of strings"),
        ({"key": "k", "type": "zset", "value": [["a", "1"]]}, r"\[member, score\] pairs"),
        ({"key": "k", "type": "zset", "value": [["a", float("nan")]]}, "pairs"),
        ({"key": "k", "type": "zset", "value": [["a", 1], ["a", 2]]}, "unique"),
        ({"key": "k", "type": "string", "value": "x", "ttl_ms": -1}, "ttl_ms must be null"),
        ({"key": "k", "type": "string", "value": "x", "ttl_ms": True}, "ttl_ms"),
        ({"key": "k", "type": "string", "value": "x", "extra": 1}, "exactly the fields"),
        ({"key": "k", "type": "string", "value": "\ud800"}, "cannot be encoded as UTF-8"),
        ("not a dict", "record 2: is not a JSON object"),
    ],
)
def test_writer_refuses_invalid_records(record, match):
    good = {"key": "ok", "type": "string", "value": "v"}
    with pytest.raises(ArchiveError, match=match):
        write([good, record], {})


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "a/"]
)
def test_writer_refuses_unsafe_media_names(name):
    with pytest.raises(ArchiveError, match="media name"):
        write([], {name: b"x"})


def test_writer_refuses_duplicate_media_and_size_mismatches():
    items = [media_item("a.jpg", b"1"), media_item("a.jpg", b"2")]
    with pytest.raises(ArchiveError, match="duplicate media item 'a.jpg'"):
        write_archive(io.BytesIO(), [], items, app_version="1", key_prefix="p", counts={})
    short = MediaItem("s.jpg", 10, lambda: io.BytesIO(b"12345"))
    with pytest.raises(ArchiveError, match="media s.jpg: source ended after 5 bytes"):
        write_archive(io.BytesIO(), [], [short], app_version="1", key_prefix="p", counts={})
    long = MediaItem("l.jpg", 3, lambda: io.BytesIO(b"12345"))
    with pytest.raises(ArchiveError, match="media l.jpg: source is larger"):
        write_archive(io.BytesIO(), [], [long], app_version="1", key_prefix="p", counts={})


def test_writer_handles_short_reads_from_raw_sources():
    """Sources (e.g. sockets, S3 bodies) may return fewer bytes than asked."""

    class Trickle(io.RawIOBase):
        def __init__(self, data: bytes):
            self.data = data

        def readable(self):
            return True

        def read(self, n=-1):
            chunk, self.data = self.data[:7], self.data[7:]
            return chunk

    content = os.urandom(100_000)
    item = MediaItem("t.bin", len(content), lambda: Trickle(content))
    out = io.BytesIO()
    write_archive(out, [], [item], app_version="1", key_prefix="p", counts={})
    assert read(out.getvalue())[1] == {"t.bin": content}


# --------------------------------------------------------------------------
# Reader: callbacks and streaming
# --------------------------------------------------------------------------


def test_on_media_gets_a_stream_and_unread_bytes_are_still_verified():
    data, _ = write([], sample_media())
    seen = {}

    def peek(name: str, stream) -> None:
        seen[name] = stream.read(5)  # read only the start; reader drains the rest

    verify_archive(io.BytesIO(data))
    read_archive(io.BytesIO(data), on_media=peek)
    assert seen == {name: content[:5] for name, content in sample_media().items()}

    copied = {}

    def copy(name: str, stream) -> None:
        sink = io.BytesIO()
        shutil.copyfileobj(stream, sink, 4096)
        copied[name] = sink.getvalue()

    read_archive(io.BytesIO(data), on_media=copy)
    assert copied == sample_media()


def test_callback_exceptions_propagate_unchanged():
    def disk_full(name, stream):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as info:
        read_archive(io.BytesIO(small_archive()), on_media=disk_full)
    assert not isinstance(info.value, ArchiveError)


def test_callbacks_run_before_verification_so_restore_must_verify_first():
    """Documents the two-pass restore: read_archive's callbacks see data from a
    tampered archive before the (last) manifest reveals the tampering;
    verify_archive refuses it without calling anything."""
    tampered = rewrite(small_archive(), edit_member("media/z.gif", lambda _: b"evil"))
    with pytest.raises(ArchiveError, match="member media/z.gif: size mismatch"):
        verify_archive(io.BytesIO(tampered))  # pass 1 refuses: nothing is written

    applied = []
    with pytest.raises(ArchiveError, match="media/z.gif"):
        read_archive(io.BytesIO(tampered), on_record=applied.append)
    assert len(applied) == len(typed_records())  # why pass 1 is mandatory


def test_on_media_stream_reports_truncation_as_archive_error():
    data, _ = write([], {"big.bin": os.urandom(2 * MB)})
    errors = []

    def consume(name, stream):
        try:
            stream.read()
        except ArchiveError as exc:
            errors.append(exc)
            raise

    with pytest.raises(ArchiveError, match="archive is truncated"):
        read_archive(io.BytesIO(data[: len(data) // 2]), on_media=consume)
    assert len(errors) == 1


# --------------------------------------------------------------------------
# Reader refuses damaged or foreign archives
# --------------------------------------------------------------------------


def test_untampered_small_archive_verifies():
    manifest = verify_archive(io.BytesIO(small_archive()))
    assert sorted(manifest["members"]) == [
        "data.jsonl",
        "media/a.jpg",
        "media/dir/b.png",
        "media/z.gif",
    ]


def flip_last(content: bytes) -> bytes:
    return content[:-1] + bytes([content[-1] ^ 1])


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (edit_member("media/a.jpg", flip_last), "^member media/a.jpg: checksum mismatch$"),
        (edit_member("media/dir/b.png", lambda c: c + b"!"), "media/dir/b.png: size mismatch"),
        (
            edit_member("data.jsonl", lambda c: c.replace(b"post:1:meta", b"post:9:meta")),
            "^member data.jsonl: checksum mismatch$",
        ),
        (
            lambda ms: [m for m in ms if m[0].name != "media/dir/b.png"],
            "member media/dir/b.png listed in manifest.json is missing",
        ),
        (
            lambda ms: [*ms[:-1], (tarfile.TarInfo("media/extra.jpg"), b"x"), ms[-1]],
            "member media/extra.jpg is not listed in manifest.json",
        ),
        (
            lambda ms: [*ms, (tarfile.TarInfo("media/late.jpg"), b"x")],
            "unexpected member media/late.jpg after manifest.json",
        ),
        (
            lambda ms: [*ms[:-1], (tarfile.TarInfo("media/a.jpg"), b"x"), ms[-1]],
            "duplicate member media/a.jpg",
        ),
        (
            lambda ms: [*ms[:-1], (tarfile.TarInfo("etc/passwd"), b"x"), ms[-1]],
            "unexpected member 'etc/passwd'",
        ),
        (
            lambda ms: [*ms[:-1], (tarfile.TarInfo("media/../../x"), b"x"), ms[-1]],
            r"unexpected member 'media/\.\./\.\./x'",
        ),
        (lambda ms: [ms[1], ms[0], *ms[2:]], "not a blog backup: first member is 'media/a.jpg'"),
        (lambda ms: ms[:-1], "manifest.json is missing"),
        (lambda ms: [], "not a blog backup: the tar archive is empty"),
        (
            edit_manifest(lambda m: m["members"]["media/a.jpg"].update(sha256="0" * 64)),
            "^member media/a.jpg: checksum mismatch$",
        ),
        (
            edit_manifest(lambda m: m["members"]["media/a.jpg"].update(size=1)),
            "media/a.jpg: size mismatch",
        ),
        (edit_manifest(lambda m: m.update(format="tarball")), "not a blog backup"),
        (edit_manifest(lambda m: m.pop("format")), "not a blog backup"),
        (edit_manifest(lambda m: m.update(format_version=3)), "^unsupported format_version 3$"),
        (edit_manifest(lambda m: m.update(format_version="1")), "unsupported format_version '1'"),
        (edit_manifest(lambda m: m.pop("key_prefix")), "'key_prefix' is missing"),
        (edit_manifest(lambda m: m.update(created_at="yesterday")), "created_at is not"),
        (edit_manifest(lambda m: m["members"].update(x="y")), "entry for x is malformed"),
        (
            edit_member("manifest.json", lambda c: c[:-5]),
            "^manifest.json is not valid JSON$",
        ),
    ],
)
def test_reader_refuses_tampered_archives(edit, match):
    expect_error(rewrite(small_archive(), edit), match)


def test_reader_refuses_non_regular_members():
    link = tarfile.TarInfo("media/link.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    data = rewrite(small_archive(), lambda ms: [*ms[:-1], (link, b""), ms[-1]])
    expect_error(data, "member media/link.jpg: not a regular file")


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (
            b'{"key": "k", "type": "string", "value": "x"',
            "record 17 of data.jsonl is not valid JSON",
        ),
        (b"", "record 17 of data.jsonl is not valid JSON"),
        (b"\xff\xfe", "record 17 of data.jsonl is not valid UTF-8"),
        (b"[1, 2]", "record 17 of data.jsonl: is not a JSON object"),
        (
            b'{"key": "k", "type": "stream", "value": "x", "ttl_ms": null}',
            "record 17 of data.jsonl: unknown type 'stream'",
        ),
        (b'{"key": "k", "type": "set", "value": ["b", "a"], "ttl_ms": null}', "sorted list"),
        (b'{"key": "k", "type": "set", "value": ["a", "a"], "ttl_ms": null}', "unique"),
        (b'{"key": "k", "type": "zset", "value": [["a"]], "ttl_ms": null}', "pairs"),
        (b'{"key": "k", "type": "zset", "value": [["a", NaN]], "ttl_ms": null}', "pairs"),
        (b'{"key": "k", "type": "hash", "value": ["a"], "ttl_ms": null}', "string fields"),
        (b'{"key": "k", "type": "list", "value": [1], "ttl_ms": null}', "list of strings"),
        (b'{"key": "k", "type": "string", "value": 1, "ttl_ms": null}', "must be a string"),
        (b'{"key": null, "type": "string", "value": "x", "ttl_ms": null}', "key must be"),
        (b'{"key": "k", "type": "string", "value": "x", "ttl_ms": -5}', "ttl_ms must be"),
        (b'{"key": "k", "type": "string", "value": "x", "ttl_ms": 1.5}', "ttl_ms must be"),
        (b'{"key": "k", "type": "string", "value": "x"}', "exactly the fields"),
    ],
)
def test_reader_refuses_malformed_records(line, match):
    good = json.dumps({"key": "k", "type": "string", "value": "v", "ttl_ms": None}).encode()
    expect_error(with_data_lines([good] * 16 + [line, good]), match)


def test_consistent_rewrite_is_accepted():
    """Guards the tampering helpers: a rewrite with recomputed hashes verifies."""
    data = with_data_lines([json.dumps(r).encode() for r in typed_records()])
    assert read(data)[0] == typed_records()


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "^archive is empty$"),
        (b"hello, world", "not a blog backup: not a gzip-compressed file"),
        (b"PK\x03\x04" + b"\0" * 100, "not a gzip-compressed file"),
        (gzip.compress(b"hello world " * 100), "not a blog backup: not a tar archive"),
        (gzip.compress(b"\0" * 10240), "not a blog backup: the tar archive is empty"),
    ],
)
def test_reader_refuses_foreign_input(data, match):
    expect_error(data, match)


def test_reader_refuses_plain_tar_and_foreign_tar_gz():
    expect_error(gzip.decompress(small_archive()), "not a gzip-compressed file")
    expect_error(build([("notes.txt", b"hi")]), "first member is 'notes.txt'")


def test_reader_refuses_bad_gzip_trailer_and_trailing_bytes():
    data = small_archive()
    bad_crc = data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]
    expect_error(bad_crc, "archive is corrupt: invalid compressed data")
    expect_error(data + b"junk", "unexpected data after the end of the archive")
    expect_error(data + data, "unexpected data after the end of the archive")


def test_reader_refuses_data_hidden_after_tar_end():
    raw = gzip.decompress(small_archive()) + b"\0" * 1024 + b"hidden member"
    expect_error(gzip.compress(raw), "unreadable data after the last tar member")


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999])
def test_truncation_at_fixed_points(fraction):
    data = small_archive()
    expect_error(data[: int(len(data) * fraction)], "^archive is (truncated|empty)$")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_truncation_is_an_archive_error(data):
    archive = small_archive()
    cut = data.draw(st.integers(min_value=0, max_value=len(archive) - 1))
    with pytest.raises(ArchiveError, match="^archive is (truncated|empty)$"):
        verify_archive(io.BytesIO(archive[:cut]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_flipped_bit_is_an_archive_error_or_harmless(data):
    """A flipped bit anywhere is refused, unless it changed nothing that matters:
    deflate has a few redundant bits and the gzip header informational fields
    (mtime, FTEXT, OS); then the decompressed tar must be byte-identical."""
    archive = small_archive()
    pos = data.draw(st.integers(min_value=0, max_value=len(archive) - 1))
    damaged = bytearray(archive)
    damaged[pos] ^= 1 << data.draw(st.integers(0, 7))
    try:
        verify_archive(io.BytesIO(bytes(damaged)))
    except ArchiveError:
        return
    assert zlib.decompress(bytes(damaged), 31) == zlib.decompress(archive, 31)


def test_gzip_bomb_is_read_in_bounded_memory():
    """A huge run of zeros after the tar end decompresses chunk by chunk."""
    raw = gzip.decompress(small_archive()) + b"\0" * (64 * MB)
    bomb = gzip.compress(raw, compresslevel=9)
    tracemalloc.start()
    try:
        verify_archive(io.BytesIO(bomb))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB


# --------------------------------------------------------------------------
# Streaming memory
# --------------------------------------------------------------------------


def test_write_and_verify_use_bounded_memory(tmp_path):
    """30 x 4 MB of media plus ~10 MB of records (so the data.jsonl spool rolls
    over to disk): peak Python allocation must stay far below the 130 MB of
    data, both writing and verifying."""
    block = os.urandom(4 * MB)
    paths = []
    for i in range(30):
        path = tmp_path / f"img{i}.jpg"
        path.write_bytes(i.to_bytes(4, "big") + block[4:])
        paths.append(path)

    def media() -> Iterator[MediaItem]:
        for path in paths:
            yield MediaItem(path.name, path.stat().st_size, functools.partial(open, path, "rb"))

    def records() -> Iterator[dict]:
        for i in range(10_000):
            yield {"key": f"post:{i}", "type": "string", "value": UNICODE * 20, "ttl_ms": None}

    archive = tmp_path / "backup.tar.gz"
    tracemalloc.start()
    try:
        with open(archive, "wb") as out:
            summary = write_archive(
                out, records(), media(), app_version="1", key_prefix="blog:", counts={}
            )
        _, write_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with open(archive, "rb") as inp:
            manifest = verify_archive(inp)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    total = sum(e["size"] for e in manifest["members"].values())
    assert total > 130 * MB
    assert manifest["members"]["data.jsonl"]["size"] > 8 * MB  # spooled beyond memory
    assert summary.records == 10_000 and summary.media == 30
    assert write_peak < 32 * MB, f"writer peak {write_peak / MB:.1f} MB"
    assert read_peak < 16 * MB, f"reader peak {read_peak / MB:.1f} MB"


# --------------------------------------------------------------------------
# Per-member compression (format_version 2) and archives of version 1
# --------------------------------------------------------------------------

V1_FIXTURE = os.path.join(
    os.path.dirname(__file__), "fixtures", "backup-v1", "blog-20250131T020000Z.tar.gz"
)


def test_images_are_stored_verbatim_and_other_members_deflated():
    rng = random.Random(7)
    photo = rng.randbytes(200_000)  # several 65,535-byte stored blocks
    notes = b"the same line of text\n" * 20_000
    records = many_records(500)
    data, summary = write(records, {"p/photo.JPG": photo, "notes.txt": notes, "x.webp": b"W"})

    # Stored: the image's bytes are in the .gz file as they are (in blocks of 65,535
    # bytes, each behind a 5-byte header), at a cost of a few bytes per block.
    assert photo[:60_000] in data and photo[-3_000:] in data
    assert notes[:1000] not in data  # deflated
    assert len(photo) < len(data) < len(photo) + len(notes) // 20
    members = summary.manifest["members"]
    assert members["media/p/photo.JPG"]["compression"] == "stored"
    assert members["media/x.webp"]["compression"] == "stored"
    assert members["media/notes.txt"]["compression"] == "deflate"
    assert members["data.jsonl"]["compression"] == "deflate"
    assert read(data)[:2] == (records, {"p/photo.JPG": photo, "notes.txt": notes, "x.webp": b"W"})
    # One ordinary gzip member: gzip and tar read it like any .tar.gz.
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        assert tar.extractfile("media/p/photo.JPG").read() == photo
    assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data).endswith(b"\0" * 1024)


def test_stored_runs_between_compressed_runs_keep_back_references_right():
    """The compressor is reset before each stored run: text after an image must not
    refer back to text before it (the reader's window holds the image in between)."""
    text = b"a repeated sentence about redis backups. " * 3000
    media = {
        f"{i}.{ext}": (text if ext == "txt" else random.Random(i).randbytes(70_000))
        for i, ext in enumerate(["txt", "jpg", "txt", "png", "txt", "gif", "txt"])
    }
    data, _ = write(many_records(50), media)
    assert read(data)[1] == media


def test_v2_manifest_entry_needs_its_compression():
    data = rewrite(
        small_archive(),
        edit_manifest(lambda m: m["members"]["media/a.jpg"].pop("compression")),
    )
    expect_error(data, "entry for media/a.jpg is malformed")


def test_archive_of_version_1_is_still_read():
    """Written by the version-1 writer (everything deflated at level 6, no
    `compression` in the manifest), before per-member compression; tests/
    test_backup_v1.py restores it into a blog."""
    with open(V1_FIXTURE, "rb") as f:
        records, media, manifest = read(f.read())
    assert manifest["format_version"] == 1
    assert manifest["created_at"] == "2025-01-31T02:00:00Z"
    assert all(set(entry) == {"sha256", "size"} for entry in manifest["members"].values())
    assert records[-1]["key"].startswith("ids:")  # counters last, as the exporter writes
    assert {r["type"] for r in records} >= {"hash", "set", "zset", "string"}
    assert media and all(name.startswith("images/") for name in media)
