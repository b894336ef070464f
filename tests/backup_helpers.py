"""Helpers for the backup tests: varied data, logical dumps, a cuttable TCP proxy."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import select
import socket
import subprocess
import threading
import time
from pathlib import Path

import redis

from blog.data import DataLayer, ImageVariant, PostInput
from blog.data.keys import EXCLUDED, family_of
from processing.archive import MediaItem, read_archive, write_archive
from tests.helpers import ROOT, RQ

TITLES = [
    "Grüße aus Köln",
    "日本語のタイトル",
    "Ünïcödé 🎉 party",
    "שלום עולם",
    "Zoë's café",
    "Ελληνικά και ∑ math",
    "Emoji 🚀🔥 launch",
    "Plain title",
    "New",
    "Ça va? Oui!",
]
BODIES = [
    "Some *Markdown* with `code`\n\n- a\n- b",
    "Ein Absatz mit Umlauten: äöüß.",
    "第一段。\n\n第二段 with **bold**.",
    "Line with emoji 👩‍💻 and \u200d joiners",
    "> quote\n\nend",
]
TAGS = ["python", "redis", "köln", "日本", "news", "emoji-🎉", "long-tag-name-here"]


def classify(name: str) -> str:
    """A key family's builder name ("post", "comment", ...), "post-part" for the keys
    read with a post, "excluded", or "other" for a key no builder makes."""
    family = family_of(name)
    if family is None:
        return "other"
    if family.backup is EXCLUDED:
        return "excluded"
    if family.read_with == "post" and family.name != "comment":
        return "post-part"
    return family.name


def logical_dump(r: redis.Redis, prefix: str = "blog:") -> dict:
    """Every app key (rate limits and backup bookkeeping aside) with type, value, TTL set."""
    dump = {}
    for key in r.scan_iter(match=prefix + "*", count=1000):
        name = key[len(prefix) :]
        # The search index is derived and rebuilt by a restore (tests/test_search_index.py
        # compares it before and after); a dump before any indexing job ran has none.
        if classify(name) == "excluded" or name.startswith("search:"):
            continue
        rtype = r.type(key)
        if rtype == "string":
            value = r.get(key)
        elif rtype == "hash":
            value = r.hgetall(key)
        elif rtype == "set":
            value = sorted(r.smembers(key))
        elif rtype == "zset":
            value = r.zrange(key, 0, -1, withscores=True)
        elif rtype == "list":
            value = r.lrange(key, 0, -1)
        else:
            raise AssertionError(f"unexpected type {rtype} for {key}")
        dump[name] = (rtype, value, r.pttl(key) > 0)
    return dump


def add_image(
    data: DataLayer,
    storage,
    owner_id: int,
    size: int,
    status: str = "ready",
    variants: tuple[str, ...] = ("web", "thumb"),
    rng=None,
) -> str:
    """An image record plus its files, as the upload flow and the cleaning job leave it
    (random bytes stand in for JPEG data: nothing decodes them here)."""
    rng = rng or random.Random()
    record = data.images.create(owner_id, "JPEG", "jpg", "image/jpeg", size, "photo 📷.jpg")
    if status == "ready":
        stored = []
        for name, share in (("original", 1), *((v, 4) for v in variants)):
            body = rng.randbytes(max(1, size // share))
            storage.put(record.storage_key(name), body, "image/jpeg")
            stored.append(ImageVariant(name, 640 // share, 480 // share, len(body)))
        data.images.mark_ready(record.id, 640, 480, ["GPS position", "camera"], stored)
    elif status == "failed":
        data.images.mark_failed(record.id, "Not an image we can read.")
    return record.id


def make_varied_data(
    data: DataLayer,
    storage,
    posts: int = 300,
    images: int = 6,
    image_size: int = 20_000,
    seed: int = 4,
) -> dict:
    """Authors, posts (published, drafts, scheduled, edited, deleted), tags, comments
    approved and pending, ready and failed images, an unknown key with a TTL."""
    rng = random.Random(seed)
    alice = data.users.create("alice", "correct horse battery")
    bob = data.users.create("bøb", "correct horse battery")
    authors = [alice, bob]
    now = time.time()
    created = []
    for i in range(posts):
        author = authors[i % 2]
        status = ("published", "published", "draft", "scheduled")[i % 4]
        post = data.posts.create(
            author.id,
            author.username,
            PostInput(
                title=f"{TITLES[i % len(TITLES)]} {i}",
                body=BODIES[i % len(BODIES)] * (1 + i % 3),
                tags=rng.sample(TAGS, rng.randint(0, 3)),
                status=status,
                publish_at=now + 86400 * (1 + i % 5) if status == "scheduled" else None,
            ),
        )
        created.append(post)
        for c in range(i % 4):
            comment = data.comments.add(
                post.id,
                author.id,
                f"Léa {c} ✍️",
                f"Comment {c} on {i}: ça marche! 👍\nsecond line",
                moderated=bool(c % 2),
            )
            if comment.status == "pending" and i % 3 == 0:
                data.comments.approve(comment, author.id)
            elif c == 2 and i % 5 == 0:
                data.comments.delete(comment, author.id)
    for post in created[::17]:  # edits: new title (old slug kept), tags, status changes
        data.posts.update(
            post,
            PostInput(
                title=post.title + " (edited)",
                body=post.body,
                tags=["edited", *post.tags[:1]],
                status="published",
            ),
        )
    for post in created[5::29]:  # deletions leave gaps in the ids
        data.posts.delete(data.posts.get(post.id))
    image_ids = [
        add_image(data, storage, authors[i % 2].id, image_size + i, rng=rng) for i in range(images)
    ]
    image_ids.append(add_image(data, storage, alice.id, 1000, status="failed"))
    r, p = data.redis, data.keys.prefix
    r.hset(p + "settings:theme", mapping={"colour": "blue", "font": "Ünïcode"})
    r.rpush(p + "feature:log", "one", "two", "two")
    r.set(p + "cache:greeting", "hello", ex=3600)
    r.set(p + "rate:comment:1.2.3.4:1", 3, ex=120)  # never backed up
    return {"authors": authors, "posts": created, "images": image_ids}


def media_files(storage, image_ids: list[str], data: DataLayer) -> dict[str, bytes]:
    """The bytes of every stored file of the given images, by storage key."""
    files = {}
    for image_id in image_ids:
        record = data.images.get(image_id)
        if record and record.status == "ready":
            for variant in record.variants:
                key = record.storage_key(variant.name)
                files[key] = storage.get(key)
    return files


def check_invariants(r: redis.Redis, prefix: str) -> dict:
    """The relations a consistent store keeps; raises AssertionError with the culprit."""
    keys = set(r.scan_iter(match=prefix + "*", count=1000))

    def exists(name: str) -> bool:
        return prefix + name in keys

    posts = {
        int(k[len(prefix) :].split(":")[1]) for k in keys if classify(k[len(prefix) :]) == "post"
    }
    comments = 0
    for post_id in posts:
        for zkey in (f"post:{post_id}:comments", f"post:{post_id}:pending"):
            for cid in r.zrange(prefix + zkey, 0, -1):
                assert exists(f"comment:{cid}"), f"{zkey} lists missing comment {cid}"
    for key in keys:
        name = key[len(prefix) :]
        if classify(name) == "comment":
            comments += 1
            post_id = int(r.hget(key, "post_id"))
            assert post_id in posts, f"{name} belongs to missing post {post_id}"
        if classify(name) == "post-part":
            assert int(name.split(":")[1]) in posts, f"{name} without its post"
    indexes = [prefix + "posts:published"] + [k for k in keys if k.startswith(prefix + "tag:")]
    indexes += [k for k in keys if k.startswith(prefix + "user:") and k.endswith(":posts")]
    for index in indexes:
        for member in r.zrange(index, 0, -1):
            assert int(member) in posts, f"{index} lists missing post {member}"
    for slug, post_id in r.hgetall(prefix + "slugs").items():
        assert int(post_id) in posts, f"slug {slug} points to missing post {post_id}"
    for entity in ("post", "comment"):
        top = int(r.get(prefix + f"ids:{entity}") or 0)
        ids = [int(k.split(":")[-1]) for k in keys if classify(k[len(prefix) :]) == entity]
        assert not ids or max(ids) <= top, f"ids:{entity}={top} < {max(ids)}"
    return {"posts": len(posts), "comments": comments}


class CuttableProxy:
    """A TCP proxy in front of an S3 server that can "go away" (refuse connections and
    cut open ones) after forwarding a number of request bytes, and come back on the
    same port - while the server behind it keeps its state, so the test can look at
    what a failed run left in the bucket."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.cut_after: int | None = None
        self.forwarded = 0
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._running = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> CuttableProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener, self._running = listener, True
        self.cut.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._running = False
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while self._running:
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if not self._running:
                    client.close()
                    server.close()
                    return
                self._sockets.update((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upstream and self.cut_after is not None:
                    with self._lock:
                        self.forwarded += len(data)
                        over = self.forwarded >= self.cut_after
                    if over:
                        self.cut.set()
                        self.stop()  # the S3 server "dies" mid-request
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def run_worker(
    env: dict, *queues: str, with_scheduler: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess:
    """A real `rq worker --burst` (optionally --with-scheduler, which enqueues due
    retries first)."""
    extra = ["--with-scheduler"] if with_scheduler else []
    return subprocess.run(
        [RQ, "worker", "--burst", "--url", env["REDIS_URL"], *extra, *(queues or ["backups"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def tampered(archive: bytes) -> bytes:
    """A well-formed archive with different data (every post retitled, the manifest
    rewritten to match): only the SHA-256 recorded at backup time catches it."""
    records, media = [], {}
    manifest = read_archive(
        io.BytesIO(archive),
        on_record=records.append,
        on_media=lambda name, s: media.__setitem__(name, s.read()),
    )
    for record in records:
        if record["key"].startswith("post:") and record["type"] == "hash":
            record["value"]["title"] = "Pwned"
    out = io.BytesIO()
    write_archive(
        out,
        records,
        [MediaItem(n, len(b), lambda b=b: io.BytesIO(b)) for n, b in media.items()],
        app_version="0.1.0",
        key_prefix="blog:",
        counts=manifest["counts"],
    )
    return out.getvalue()


def random_file(path: Path, size: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))


def env_with(base: dict, **extra: str) -> dict:
    env = dict(base)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def outcome_json(r: redis.Redis, prefix: str = "blog:") -> list[dict]:
    return [json.loads(x) for x in r.lrange(prefix + "backup:runs", 0, -1)]


PYTHON = os.environ.get("PYTHON_FOR_TESTS") or str(Path(RQ).parent / "python")
