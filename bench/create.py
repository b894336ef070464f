"""In-process CPU of a create through the form: the blog against the SQLite blog.

    .venv/bin/python bench/create.py [--rounds 7] [--requests 200] [--profile]

The same requests as bench/load.py's create scenarios (bench/locustfile.py's Author):
the blog's POST /posts/new (title, body, tags, status published, the CSRF token, the
author's session cookie) and the SQLite blog's POST /create (title, body), each answered
with a 302, made by calling the WSGI app directly (no test client: its cookie jar and
environ building are not the server's work). The two alternate round by round, so machine
noise falls on both alike; each round's figure is the mean of its requests, and the
best round is reported (best-of-N), with the Redis round trips and commands of one create.
--profile prints a cProfile of the blog's creates instead.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import secrets
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import redis
from seed import BODY  # bench/ is the script's own directory
from sqlite_blog import create_app as create_sqlite_blog
from sqlite_blog import seed as seed_sqlite
from werkzeug.test import Client, EnvironBuilder

from blog import create_app
from blog.data import DataLayer
from devtools.redis_server import RedisServer
from devtools.roundtrips import RoundTripCounter

PASSWORD = "bench-password-1"


def cookie_of(headers: list[tuple[str, str]]) -> str:
    return "; ".join(v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie")


def blog_request(url: str, media: Path) -> tuple[Callable[[], dict], object, RoundTripCounter]:
    """The blog's WSGI app, a maker of create environs, and its round-trip counter."""
    app = create_app(
        {
            "APP_ENV": "development",
            "REDIS_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "MEDIA_ROOT": str(media),
            "TRUSTED_PROXIES": 0,
        }
    )
    counter = RoundTripCounter(url)
    app.extensions["blog_data"] = DataLayer(counter.client, app.config["KEY_PREFIX"])
    app.extensions["blog_data"].users.create("alice", PASSWORD)
    client = Client(app)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert token
    client.post(
        "/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    editor = client.get("/posts/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', editor)
    assert token
    cookie = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())
    csrf = token.group(1)

    def environ() -> dict:
        form = {
            "title": f"Load post {uuid.uuid4().hex[:12]}",
            "body": BODY,
            "tags": "redis, load",
            "status": "published",
            "csrf_token": csrf,
        }
        return EnvironBuilder(
            "/posts/new", method="POST", data=form, headers={"Cookie": cookie}
        ).get_environ()

    return environ, app, counter


def sqlite_request(database: Path) -> tuple[Callable[[], dict], object]:
    seed_sqlite(database, 1000, BODY, "alice", PASSWORD)
    app = create_sqlite_blog(str(database), secrets.token_hex(32))
    client = Client(app)
    client.post("/auth/login", data={"username": "alice", "password": PASSWORD})
    cookie = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())

    def environ() -> dict:
        form = {"title": f"Load post {uuid.uuid4().hex[:12]}", "body": BODY}
        return EnvironBuilder(
            "/create", method="POST", data=form, headers={"Cookie": cookie}
        ).get_environ()

    return environ, app


def call(app: object, environ: dict) -> None:
    status: list[str] = []

    def start_response(s: str, headers: list, exc_info: object = None) -> None:
        status.append(s)

    body = app(environ, start_response)  # type: ignore[operator]
    for _ in body:
        pass
    if hasattr(body, "close"):
        body.close()
    assert status[0].startswith("302"), status


def redis_cpu_seconds(r: redis.Redis) -> float:
    """redis-server's CPU time so far (its getrusage, to the microsecond)."""
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def round_ms(
    app: object, make: Callable[[], dict], requests: int, r: redis.Redis
) -> tuple[float, float, float]:
    """Per request: wall time, this process's CPU time and redis-server's CPU time (ms)."""
    environs = [make() for _ in range(requests)]
    redis_before = redis_cpu_seconds(r)
    cpu, wall = time.process_time(), time.perf_counter()
    for environ in environs:
        call(app, environ)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    redis_cpu = redis_cpu_seconds(r) - redis_before
    return wall * 1000 / requests, cpu * 1000 / requests, redis_cpu * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blog-create-") as work:
        server = RedisServer(Path(work) / "redis", persistent=False).start()
        try:
            (Path(work) / "media").mkdir()
            blog_env, blog, counter = blog_request(server.url, Path(work) / "media")
            sqlite_env, sqlite = sqlite_request(Path(work) / "flaskr.sqlite")
            for _ in range(20):  # warm-up: connections, scripts, templates
                call(blog, blog_env())
                call(sqlite, sqlite_env())
            counter.reset()
            call(blog, blog_env())
            trips, commands = counter.round_trips, counter.commands
            if args.profile:
                environs = [blog_env() for _ in range(args.requests)]
                profile = cProfile.Profile()
                profile.enable()
                for environ in environs:
                    call(blog, environ)
                profile.disable()
                pstats.Stats(profile).sort_stats("cumulative").print_stats(60)
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)
                return
            redis_client = redis.Redis.from_url(server.url)
            rounds: dict[str, list[tuple[float, float, float]]] = {"blog": [], "sqlite": []}
            for _ in range(args.rounds):
                rounds["blog"].append(round_ms(blog, blog_env, args.requests, redis_client))
                rounds["sqlite"].append(round_ms(sqlite, sqlite_env, args.requests, redis_client))
            print(f"ms per create, each column its best round ({args.rounds} of {args.requests})")
            print("           wall    CPU  redis CPU  CPU+redis")
            best = {}
            for name, samples in rounds.items():
                wall, cpu, rcpu = (min(s[i] for s in samples) for i in range(3))
                best[name] = min(s[1] + s[2] for s in samples)
                print(f"{name:8} {wall:6.3f} {cpu:6.3f} {rcpu:10.3f} {best[name]:10.3f}")
            ratio = best["sqlite"] / best["blog"]
            print(f"ratio sqlite/blog (CPU+redis; higher is better) {ratio:.2f}")
            print(f"redis per create: {trips} round trips, {commands} commands")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
