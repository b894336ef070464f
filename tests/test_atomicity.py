"""Every multi-key write is all or nothing, under crashes and under concurrency.

The crash tests put a TCP proxy between a DataLayer and the real redis-server. The proxy
forwards the client's first N bytes, then cuts both connections, as a dying web process
or a network fault would. For every interesting N, from 0 up to the size of the whole
write, Redis must end up holding exactly the data from before the write or exactly the
data from after it, and every consistency rule (tests/invariants.py) must hold.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from blog.data import DataLayer, ImportedPost, PostGone, PostInput, connect
from blog.data.comments import CommentGone
from tests.helpers import cheap_password_hashing
from tests.invariants import assert_consistent, problems, snapshot

PREFIX = "blog:"
AUTHOR = (1, "alice")


# ---- the cutting proxy ---------------------------------------------------------------


@dataclass
class _Link:
    client: socket.socket
    upstream: socket.socket | None
    limited: bool
    dead: bool = False
    reader: threading.Thread | None = None


@dataclass
class CuttingProxy:
    """Forwards client->server bytes until `budget` of them have passed, then cuts the
    client and server connections (the server still gets every byte forwarded so far).
    Server->client bytes pass freely, except replies to the last, cut-short request.
    With `reconnect`, connections made after the cut go through unlimited, so the
    client's own retry logic can finish the job."""

    target: tuple[str, int]
    budget: int | None = None
    reconnect: bool = False
    forwarded: bytearray = field(default_factory=bytearray)
    marks: list[int] = field(default_factory=list)  # offsets after each chunk
    cut: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._links: list[_Link] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self._listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                limited = not self.cut
                if self.cut and not self.reconnect:
                    client.close()
                    continue
                if limited and self.budget == 0:
                    self.cut = True
                    client.close()
                    continue
                link = _Link(client, socket.create_connection(self.target), limited)
                link.reader = threading.Thread(target=self._to_client, args=(link,), daemon=True)
                link.reader.start()
                self._links.append(link)
            threading.Thread(target=self._to_server, args=(link,), daemon=True).start()

    def _to_server(self, link: _Link) -> None:
        while True:
            try:
                data = link.client.recv(65536)
            except OSError:
                data = b""
            with self._lock:
                if not data or link.dead:
                    break
                last = False
                if link.limited and self.budget is not None:
                    room = self.budget - len(self.forwarded)
                    data, last = data[:room], len(data) >= room
                    link.dead = last  # no reply to this one reaches the client
                try:
                    link.upstream.sendall(data)
                except OSError:
                    break
                if link.limited:
                    self.forwarded += data
                    self.marks.append(len(self.forwarded))
                if last:
                    self.cut = True
                    break
        self._close(link)

    def _to_client(self, link: _Link) -> None:
        while True:
            try:
                data = link.upstream.recv(65536)
            except OSError:
                break
            if not data:
                break
            if not link.dead:
                try:
                    link.client.sendall(data)
                except OSError:
                    link.dead = True
        link.upstream.close()

    @staticmethod
    def _close(link: _Link) -> None:
        link.dead = True
        for sock, how in ((link.upstream, socket.SHUT_WR), (link.client, socket.SHUT_RDWR)):
            with contextlib.suppress(OSError):
                sock.shutdown(how)  # FIN after the forwarded bytes: Redis reads them all
        link.client.close()

    def close(self) -> None:
        """Cut everything and wait until Redis has read every forwarded byte and closed
        its side: only then is the server's state final."""
        self._listener.close()
        with self._lock:
            links = list(self._links)
        for link in links:
            self._close(link)
        for link in links:
            link.reader.join(timeout=10)
            assert not link.reader.is_alive(), "Redis did not close the connection"


def proxied(proxy: CuttingProxy, retries: int = 0) -> DataLayer:
    """The app's own client (blog.data.connect) through the proxy; its retries are set
    explicitly so that a cut fails fast (0) or is retried at once (n)."""
    client = connect(proxy.url)
    client.set_retry(Retry(NoBackoff(), retries))
    return DataLayer(client, PREFIX)


# ---- the writes under test -------------------------------------------------------------


def add(data: DataLayer, title: str, tags=(), status="published", body="Some *body*"):
    return data.posts.create(
        *AUTHOR, PostInput(title=title, body=body, tags=list(tags), status=status)
    )


@dataclass
class Scenario:
    name: str
    seed: Callable[[DataLayer], dict]
    write: Callable[[DataLayer, dict], object]
    watches: bool = True  # reads before writing, so must WATCH


def seed_one(data):
    post = add(data, "Hello", ["redis", "shared"])
    return {"post": post}


def seed_two_with_comments(data):
    a = add(data, "Alpha", ["solo", "shared"])
    b = add(data, "Beta", ["shared"])
    c1 = data.comments.add(a.id, AUTHOR[0], "Ann", "first", moderated=False)
    data.comments.add(a.id, AUTHOR[0], "Bob", "second", moderated=False)
    pending = data.comments.add(a.id, AUTHOR[0], "Cy", "waiting", moderated=True)
    data.comments.add(b.id, AUTHOR[0], "Dee", "on beta", moderated=False)
    return {"post": a, "other": b, "comment": c1, "pending": pending}


def add_imported(data: DataLayer, title: str, tags=()):
    origin = ImportedPost("post:https://old.example/?p=1", 1_600_000_000.0, "Old author")
    return data.posts.create(
        *AUTHOR, PostInput(title=title, body="Old *text*", tags=list(tags), status="published"),
        origin,
    )  # fmt: skip


def seed_draft(data):
    post = add(data, "Draft", ["wip"], status="draft")
    return {"post": post}


def autosave(data, ctx, **changes):
    post = ctx["post"]
    values = {"title": post.title, "body": post.body, "tags": post.tags, "status": "draft"}
    return data.posts.update(post, PostInput(**{**values, **changes}), post.updated_at)


def edit(data, ctx, **changes):
    post = ctx["post"]
    values = {
        "title": post.title,
        "body": post.body,
        "tags": post.tags,
        "status": post.status,
        **changes,
    }
    return data.posts.update(post, PostInput(**values))


SCENARIOS = [
    Scenario("create", seed_one, lambda d, ctx: add(d, "Hello", ["redis", "python"])),
    Scenario("create-draft", seed_one, lambda d, ctx: add(d, "Hello", ["secret"], status="draft")),
    Scenario(
        "update-retag-rename",
        seed_two_with_comments,
        lambda d, ctx: edit(d, ctx, title="Gamma", tags=["shared", "fresh"]),
    ),
    Scenario("unpublish", seed_two_with_comments, lambda d, ctx: edit(d, ctx, status="draft")),
    Scenario("import", seed_one, lambda d, ctx: add_imported(d, "Hello", ["redis", "old"])),
    Scenario("autosave-draft", seed_draft, lambda d, ctx: autosave(d, ctx, body="Typed more")),
    Scenario(
        "autosave-revision",
        seed_two_with_comments,
        lambda d, ctx: d.posts.save_revision(
            ctx["post"],
            PostInput("Alpha 2", "New text", ["solo"], "published"),
            ctx["post"].updated_at,
        ),
    ),
    Scenario("delete", seed_two_with_comments, lambda d, ctx: d.posts.delete(ctx["post"])),
    Scenario(
        "comment-add",
        seed_two_with_comments,
        lambda d, ctx: d.comments.add(ctx["post"].id, AUTHOR[0], "Eve", "hi", False),
    ),
    Scenario(
        "comment-add-moderated",
        seed_two_with_comments,
        lambda d, ctx: d.comments.add(ctx["post"].id, AUTHOR[0], "Eve", "hi", True),
    ),
    Scenario(
        "comment-approve",
        seed_two_with_comments,
        lambda d, ctx: d.comments.approve(ctx["pending"], AUTHOR[0]),
    ),
    Scenario(
        "comment-delete",
        seed_two_with_comments,
        lambda d, ctx: d.comments.delete(ctx["comment"], AUTHOR[0]),
        watches=False,
    ),
    Scenario("user-create", lambda d: {}, lambda d, ctx: d.users.create("bob", "a long password")),
]


def normalised(r: redis.Redis) -> dict:
    state = snapshot(r, PREFIX)
    for value in state.values():
        if isinstance(value, dict) and "password_hash" in value:  # salted: differs per run
            value["password_hash"] = value["password_hash"].split("$")[0]
    return state


def content(r: redis.Redis) -> list:
    """What the blog shows, independent of ids (a retried INCR may skip one)."""
    data = DataLayer(r, PREFIX)
    out = []
    for key in r.scan_iter(match=PREFIX + "post:*"):
        if key.count(":") != 2:
            continue
        post = data.posts.get(int(key.rsplit(":", 1)[1]))
        comments = r.zrange(data.keys.post_comments(post.id), 0, -1) + r.zrange(
            data.keys.post_pending(post.id), 0, -1
        )
        out.append(
            (
                post.title,
                post.slug,
                sorted(r.smembers(data.keys.post_slugs(post.id))),
                post.tags,
                post.status,
                sorted((c.name, c.body, c.status) for c in data.comments.load(comments)),
            )
        )
    return [
        sorted(out),
        sorted(r.smembers(PREFIX + "tags")),
        sorted(r.hkeys(PREFIX + "users")),
        len(problems(r, PREFIX)),
    ]


class Harness:
    def __init__(self, redis_url: str, scenario: Scenario) -> None:
        parts = urlsplit(redis_url)
        self.target = (parts.hostname, parts.port)
        self.direct = redis.Redis.from_url(redis_url, decode_responses=True)
        self.data = DataLayer(self.direct, PREFIX)
        self.scenario = scenario

    def reset(self) -> dict:
        self.direct.flushall()
        return self.scenario.seed(self.data)

    def run(
        self, budget: int | None, reconnect: bool = False, retries: int = 0
    ) -> tuple[CuttingProxy, Exception | None]:
        ctx = self.reset()
        proxy = CuttingProxy(self.target, budget, reconnect)
        data = proxied(proxy, retries)
        error = None
        try:
            self.scenario.write(data, ctx)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            error = e
        finally:
            data.redis.close()
            proxy.close()
        return proxy, error


def budgets(marks: list[int], total: int, steps: int = 24) -> list[int]:
    """Every byte boundary between requests (and one either side), plus an even spread."""
    chosen = set(range(0, total + 1, max(1, total // steps))) | {0, total}
    for mark in marks:
        chosen |= {mark - 1, mark, mark + 1}
    return sorted(n for n in chosen if 0 <= n <= total)


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def frozen_clock(monkeypatch):
    """The data layer's clock stands still, so a write is the same bytes every run (a
    timestamp's text length varies) and a budget of N bytes cuts at the same place."""
    clock = SimpleNamespace(time=lambda: 1_700_000_000.25)
    for module in ("posts", "comments", "users", "contentwatch"):
        monkeypatch.setattr(f"blog.data.{module}.time", clock)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_cut_connection_leaves_all_or_nothing(redis_url, redis_client, frozen_clock, scenario):
    h = Harness(redis_url, scenario)
    h.reset()
    before = normalised(h.direct)
    assert_consistent(h.direct)

    proxy, error = h.run(budget=None)  # the whole write, measured
    assert error is None
    after = normalised(h.direct)
    assert_consistent(h.direct)
    assert after != before
    total, marks = len(proxy.forwarded), proxy.marks
    assert total > 0

    outcomes = []
    for budget in budgets(marks, total):
        _, error = h.run(budget)
        state = normalised(h.direct)
        found = problems(h.direct, PREFIX)
        assert not found, f"{scenario.name}, cut after {budget}/{total} bytes: {found}"
        assert state in (before, after), (
            f"{scenario.name}, cut after {budget}/{total} bytes: partial write"
        )
        outcomes.append((budget, state == after, error is not None))

    assert outcomes[0][1:] == (False, True)  # nothing sent: nothing written
    assert any(done and failed for _, done, failed in outcomes), (
        "never cut between the write and its reply"
    )
    assert any(not done for _, done, _ in outcomes)
    h.direct.close()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_client_retry_after_a_cut_writes_exactly_once(
    redis_url, redis_client, frozen_clock, scenario
):
    """The app's client retries on a new connection after a cut (redis-py re-runs a
    transaction whose WATCH was lost). Wherever the cut falls, the write then happens
    exactly once: no duplicate post, slug or comment, no false "name taken"."""
    h = Harness(redis_url, scenario)
    proxy, error = h.run(budget=None)
    assert error is None
    expected = content(h.direct)
    total, marks = len(proxy.forwarded), proxy.marks
    # redis-py does not retry a cut in the connection handshake (CLIENT SETINFO) itself:
    # that fails the request before anything is sent, which the test above covers.
    offsets: list[int] = []
    commands = parse_commands(bytes(proxy.forwarded), offsets)
    start = next(
        o
        for o, c in zip(offsets, commands, strict=True)
        if c[0] not in ("PING", "CLIENT", "HELLO", "AUTH", "SELECT")
    )
    for budget in [b for b in budgets(marks, total, steps=8) if b > start]:
        _, error = h.run(budget, reconnect=True, retries=3)
        assert error is None, f"{scenario.name}, cut after {budget}/{total}: {error!r}"
        assert content(h.direct) == expected, f"{scenario.name}, cut after {budget}/{total}"
    h.direct.close()


# ---- one MULTI/EXEC with WATCH, or one script, read off the wire ------------------------


def parse_commands(raw: bytes, offsets: list[int] | None = None) -> list[list[str]]:
    """Split a client's RESP byte stream into commands (and where each starts)."""
    commands, i = [], 0
    while i < len(raw):
        if offsets is not None:
            offsets.append(i)
        assert raw[i : i + 1] == b"*", raw[i : i + 20]
        end = raw.index(b"\r\n", i)
        count, i = int(raw[i + 1 : end]), end + 2
        args = []
        for _ in range(count):
            end = raw.index(b"\r\n", i)
            size, i = int(raw[i + 1 : end]), end + 2
            args.append(raw[i : i + size].decode(errors="replace"))
            i += size + 2
        commands.append(args)
    return commands


WRITES = {
    "HSET",
    "HSETNX",
    "HDEL",
    "HINCRBY",
    "SADD",
    "SREM",
    "ZADD",
    "ZREM",
    "ZINCRBY",
    "DEL",
    "UNLINK",
    "SET",
    "SETNX",
    "EXPIRE",
    "INCR",
    "INCRBY",
    "RPUSH",
    "LPUSH",
    "RENAME",
    "APPEND",
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_writes_are_one_atomic_step(redis_url, redis_client, scenario):
    """One MULTI/EXEC (WATCHing what it read first) or one Lua script, which Redis runs
    whole: reads and writes in one step, nothing to watch."""
    h = Harness(redis_url, scenario)
    proxy, error = h.run(budget=None)
    assert error is None
    commands = parse_commands(bytes(proxy.forwarded))
    in_multi = watched = False
    transactions = 0
    for cmd in commands:
        name = cmd[0].upper()
        if name in ("EVALSHA", "EVAL"):
            assert not in_multi
            transactions += 1
        elif name == "WATCH":
            assert not in_multi
            watched = True
        elif name == "MULTI":
            assert not in_multi
            assert watched or not scenario.watches, f"MULTI without WATCH: {commands}"
            in_multi, transactions = True, transactions + 1
        elif name == "EXEC":
            assert in_multi
            in_multi = watched = False
        elif name in WRITES and not in_multi:
            # only a new id may be taken outside: a gap in ids is harmless
            assert name in ("INCR", "INCRBY") and cmd[1].startswith(PREFIX + "ids:"), cmd
    assert transactions == 1, commands
    assert not in_multi
    h.direct.close()


# ---- concurrency -----------------------------------------------------------------------


def run_together(*jobs: Callable[[], object]) -> list:
    """Start the jobs at the same moment in threads; their results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def runner(i, job):
        barrier.wait()
        try:
            results[i] = job()
        except Exception as error:  # reported to the test, which decides
            results[i] = error

    threads = [threading.Thread(target=runner, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.fixture
def shared(redis_url, redis_client):
    """One DataLayer shared by all threads, as in a threaded web server."""
    data = DataLayer(connect(redis_url), PREFIX)
    yield data
    data.redis.close()


def test_concurrent_creates_of_one_title_get_distinct_slugs(shared):
    results = run_together(*[lambda: add(shared, "Same title", ["race"])] * 8)
    assert not [r for r in results if isinstance(r, Exception)], results
    slugs = sorted(p.slug for p in results)
    assert slugs == sorted(["same-title"] + [f"same-title-{n}" for n in range(2, 9)])
    assert len({p.id for p in results}) == 8
    for post in results:
        assert shared.posts.id_for_slug(post.slug) == post.id
        assert shared.posts.get(post.id).slug == post.slug
    assert len(shared.posts.page(1, 20, tag="race").items) == 8
    assert_consistent(shared.redis)


def test_sixteen_authors_saving_at_once_keep_slugs_and_tags_consistent(shared):
    """The load benchmark's create: 16 writers on the same `slugs` hash and tags."""

    def author(i: int) -> list:
        return [
            add(shared, "Same title", ["shared", f"t{i % 4}"], "draft" if n == 0 else "published")
            for n in range(5)
        ]

    results = run_together(*[lambda i=i: author(i) for i in range(16)])
    assert not [r for r in results if isinstance(r, Exception)], results
    posts = [post for batch in results for post in batch]
    assert len({p.id for p in posts}) == 80
    assert sorted(p.slug for p in posts) == sorted(
        ["same-title"] + [f"same-title-{n}" for n in range(2, 81)]
    )
    assert all(shared.posts.id_for_slug(p.slug) == p.id for p in posts)
    assert len(shared.posts.page(1, 100, tag="shared").items) == 64  # drafts are not listed
    assert dict(shared.posts.tag_counts()) == {"shared": 64, "t0": 16, "t1": 16, "t2": 16, "t3": 16}
    assert_consistent(shared.redis)


def test_the_last_post_leaving_a_tag_removes_it_whoever_leaves_last(shared):
    """Each retag sees the others' only after its own save: exactly one is the last."""
    for _ in range(5):
        posts = [add(shared, f"Post {i}", ["old"]) for i in range(12)]
        jobs = [
            lambda p=p: shared.posts.update(p, PostInput(p.title, "", ["new"], "published"))
            for p in posts
        ]
        results = run_together(*jobs)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert "old" not in shared.redis.smembers(shared.keys.tags)
        assert not shared.redis.exists(shared.keys.tag("old"))
        assert_consistent(shared.redis)
        for post in results:
            shared.posts.delete(post)
        assert not shared.redis.smembers(shared.keys.tags)


def test_concurrent_renames_to_one_title_get_distinct_slugs(shared):
    posts = [add(shared, f"Draft {i}", ["x"]) for i in range(6)]
    jobs = [
        lambda p=p: shared.posts.update(p, PostInput("Final", "", ["y"], "published"))
        for p in posts
    ]
    results = run_together(*jobs)
    assert len({r.slug for r in results}) == 6
    assert_consistent(shared.redis)


def test_comment_racing_post_delete_leaves_no_orphan(shared):
    outcomes = set()
    for i in range(30):
        post = add(shared, f"Doomed {i}", ["t"])
        comment, deleted = run_together(
            lambda p=post, m=(i % 2 == 1): shared.comments.add(p.id, 1, "n", "b", m),
            lambda p=post: shared.posts.delete(p),
        )
        assert deleted is None
        assert (
            comment is None or not isinstance(comment, Exception) or isinstance(comment, PostGone)
        ), comment
        outcomes.add(type(comment).__name__)
        assert shared.posts.get(post.id) is None
        assert not list(shared.redis.scan_iter(f"{PREFIX}post:{post.id}:*"))
        assert not list(shared.redis.scan_iter(PREFIX + "comment:*"))
        assert_consistent(shared.redis)
    assert outcomes <= {"Comment", "PostGone"}


def test_edit_racing_delete_never_resurrects_the_post(shared):
    for i in range(20):
        post = add(shared, f"Contested {i}", ["t"])
        edited, deleted = run_together(
            lambda p=post: shared.posts.update(p, PostInput("Renamed", "", ["u"], "published")),
            lambda p=post: shared.posts.delete(p),
        )
        assert deleted is None
        assert edited is not None and (
            not isinstance(edited, Exception) or isinstance(edited, PostGone)
        ), edited
        assert shared.posts.get(post.id) is None
        assert shared.redis.hlen(PREFIX + "slugs") == 0
        assert_consistent(shared.redis)


def test_approve_racing_comment_delete_never_resurrects_it(shared):
    post = add(shared, "Moderated")
    for _ in range(20):
        c = shared.comments.add(post.id, 1, "n", "b", moderated=True)
        approved, deleted = run_together(
            lambda c=c: shared.comments.approve(c, 1), lambda c=c: shared.comments.delete(c, 1)
        )
        assert deleted is None
        assert approved is None or isinstance(approved, CommentGone), approved
        assert not shared.redis.exists(shared.keys.comment(c.id))
        assert_consistent(shared.redis)


def test_random_concurrent_writes_stay_consistent(shared):
    tags = ["a", "b", "c", "d"]
    stop_at = time.monotonic() + 2.0

    def worker(seed: int):
        rng = random.Random(seed)
        done = 0
        while time.monotonic() < stop_at and done < 60:
            done += 1
            ids = [int(i) for i in shared.redis.zrange(shared.keys.user_posts(1), 0, -1)]
            post = shared.posts.get(rng.choice(ids)) if ids else None
            action = rng.choice(
                ["create", "create", "update", "delete", "comment", "comment", "approve"]
            )
            try:
                if action == "create" or post is None:
                    add(
                        shared,
                        rng.choice(["One", "Two", "Three"]),
                        rng.sample(tags, 2),
                        rng.choice(["published", "draft"]),
                    )
                elif action == "update":
                    shared.posts.update(
                        post,
                        PostInput(
                            rng.choice(["One", "Two", "Four"]),
                            "x",
                            rng.sample(tags, 2),
                            rng.choice(["published", "draft", "published"]),
                        ),
                    )
                elif action == "delete":
                    shared.posts.delete(post)
                elif action == "comment":
                    shared.comments.add(post.id, 1, "n", "b", rng.random() < 0.5)
                else:
                    for c in shared.comments.pending_for_author(1)[:1]:
                        shared.comments.approve(c, 1)
            except (PostGone, CommentGone):
                pass
        return done

    results = run_together(*[lambda s=s: worker(s) for s in range(4)])
    assert all(isinstance(r, int) and r > 0 for r in results), results
    assert_consistent(shared.redis)


# ---- the checker itself ----------------------------------------------------------------

CORRUPTIONS = {
    "post hash lost": lambda r: r.delete("blog:post:1"),
    "published holds a ghost": lambda r: r.zadd("blog:posts:published", {"99": 1}),
    "tag missing from the tags set": lambda r: r.srem("blog:tags", "solo"),
    "tags set names an empty tag": lambda r: r.sadd("blog:tags", "nothing"),
    "tag index lacks the post": lambda r: r.zrem("blog:tag:shared", "2"),
    "post's tag set lacks a tag": lambda r: r.srem("blog:post:1:tags", "solo"),
    "slug points nowhere": lambda r: r.hset("blog:slugs", "ghost", "99"),
    "post's slug unresolved": lambda r: r.hdel("blog:slugs", "alpha"),
    "draft still published": lambda r: r.hset("blog:post:2", "status", "draft"),
    "orphan comment": lambda r: r.hset(
        "blog:comment:50",
        mapping={
            "id": 50,
            "post_id": 99,
            "name": "n",
            "body": "b",
            "created_at": 1,
            "status": "approved",
        },
    ),
    "listed comment missing": lambda r: r.zadd("blog:post:1:comments", {"77": 1}),
    "comment husk": lambda r: r.hdel("blog:comment:1", "body", "name", "post_id"),
    "pending queue out of step": lambda r: r.zrem("blog:user:1:pending", "3"),
    "leftover keys of a deleted post": lambda r: r.sadd("blog:post:42:tags", "x"),
    "wrong score": lambda r: r.zadd("blog:tag:shared", {"2": 5}),
}


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_the_checker_notices_broken_data(shared, name):
    seed_two_with_comments(shared)
    assert problems(shared.redis, PREFIX) == []
    CORRUPTIONS[name](shared.redis)
    assert problems(shared.redis, PREFIX), name
