"""The cost of a listing page (home, tag) with the page cache off, against the SQLite blog.

    .venv/bin/python bench/listing.py [--posts 1000] [--rounds 7] [--requests 200]

One private redis-server in a temporary directory, seeded through the data layer
(bench/seed.py); the SQLite baseline (bench/sqlite_blog.py) with as many posts, in the
same process. Each page is called through its WSGI app directly (no HTTP server), in
rounds that alternate between the pages so machine noise falls on all of them alike;
the best round of each is kept. Prints, per page, wall time and this process's CPU time
per request, the Redis CPU per call of the listing script (`INFO commandstats`,
`usec_per_call` of `evalsha`), and the blog's requests per second as a ratio to the
SQLite blog's index page (goal: at least 1.0, issue 13): by wall time, and by CPU (this
process's plus Redis's script time: what bounds requests per second when gunicorn workers
and Redis share the cores).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import redis
from seed import BODY, seed  # bench/ is the script's own directory
from sqlite_blog import create_app as create_sqlite_blog
from sqlite_blog import seed as seed_sqlite
from werkzeug.test import EnvironBuilder

from blog import create_app
from devtools.redis_server import RedisServer

PREFIX = "blog:"


def caller(app: Callable, path: str) -> Callable[[], None]:
    """One request of `path` to a WSGI app, its body read; asserts a 200."""
    environ = EnvironBuilder(path=path).get_environ()

    def start_response(status: str, headers: list, exc_info: object = None) -> None:
        assert status.startswith("200"), (path, status)

    def call() -> None:
        body = app(dict(environ), start_response)
        for _ in body:
            pass
        if hasattr(body, "close"):
            body.close()

    return call


def timed(call: Callable[[], None], requests: int) -> tuple[float, float]:
    """(wall, CPU) microseconds per request over `requests` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(requests):
        call()
    return (
        (time.perf_counter() - wall) / requests * 1e6,
        (time.process_time() - cpu) / requests * 1e6,
    )


def evalsha_usec(r: redis.Redis) -> tuple[int, float]:
    stats = r.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


def best(rounds: Iterable[tuple[float, float]]) -> tuple[float, float]:
    found = list(rounds)
    return min(w for w, _ in found), min(c for _, c in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp) / "redis", persistent=False).start()
        try:
            seed(server.url, PREFIX, args.posts)
            database = str(Path(tmp) / "sqlite.db")
            seed_sqlite(Path(database), args.posts, BODY, "alice", "pw")
            blog = create_app(
                {
                    "REDIS_URL": server.url,
                    "SECRET_KEY": secrets.token_hex(32),
                    "KEY_PREFIX": PREFIX,
                    "PAGE_CACHE_SECONDS": 0,
                    "HTTP_CACHE_SECONDS": 0,
                }
            )
            pages = {
                "blog /": caller(blog, "/"),
                "blog /tags/redis": caller(blog, "/tags/redis"),
                "blog /tags/topic-7": caller(blog, "/tags/topic-7"),
                "sqlite /": caller(create_sqlite_blog(database, "bench"), "/"),
            }
            r = redis.Redis.from_url(server.url)
            for call in pages.values():  # warm up: scripts loaded, templates compiled
                timed(call, 20)
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in pages}
            script: dict[str, list[float]] = {name: [] for name in pages}
            for _ in range(args.rounds):
                for name, call in pages.items():
                    calls, usec = evalsha_usec(r)
                    results[name].append(timed(call, args.requests))
                    more_calls, more_usec = evalsha_usec(r)
                    if more_calls > calls:
                        script[name].append((more_usec - usec) / (more_calls - calls))
        finally:
            server.stop()
    sqlite_wall, sqlite_cpu = best(results["sqlite /"])
    print(f"{args.posts} posts, best of {args.rounds} rounds of {args.requests} requests")
    print(f"{'page':<20}{'wall µs':>9}{'CPU µs':>9}{'Redis µs':>10}{'x SQLite':>10}{'(CPU)':>8}")
    for name in pages:
        wall, cpu = best(results[name])
        redis_us = min(script[name]) if script[name] else 0.0
        print(
            f"{name:<20}{wall:>9.0f}{cpu:>9.0f}{redis_us:>10.1f}"
            f"{sqlite_wall / wall:>10.2f}{sqlite_cpu / (cpu + redis_us):>8.2f}"
        )


if __name__ == "__main__":
    main()
