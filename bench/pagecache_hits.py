"""How often the visitors' page cache answers bench/load.py's cached post scenario.

    .venv/bin/python bench/pagecache_hits.py [--posts 10000] [--workers 4]
        [--requests 22500] [--measured 15000]

Seeds --posts posts (bench/seed.py) into a private redis-server, then replays the load
benchmark's post page traffic in this process: --workers app instances stand for
gunicorn's workers (each with its own page cache and its own tracking connection), each
request goes to one of them at random (as the workers take connections from the shared
socket), and the post is picked as bench/locustfile.py picks it (Zipf: the post of rank
r gets 1/r of the top post's views). The default is load.py's 10 s warm-up and 20 s run
at some 750 requests a second. Done twice: each worker keeping its own pages, and the
workers sharing what they render (PAGE_CACHE_DIR). Prints, for the last --measured
requests, the share answered from the worker's own cache, from a page another worker
rendered, and rendered, with the mean time a request took here (no HTTP server: the
WSGI app called directly, on a machine other processes may share).
"""

from __future__ import annotations

import argparse
import io
import itertools
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from seed import seed  # bench/ is the script's own directory

from blog import create_app
from blog.pagecache import SharedPages
from devtools.redis_server import RedisServer


def environ(path: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "REMOTE_ADDR": "127.0.0.1",
    }


def start_response(status: str, headers: list, exc_info: object = None) -> None:
    if not status.startswith("200"):
        raise RuntimeError(status)


def replay(url: str, shared_dir: str, picks: list[tuple[int, int]], measured: int) -> dict:
    config = {
        "APP_ENV": "development",
        "REDIS_URL": url,
        "SECRET_KEY": "pagecache-hits",
        "PAGE_CACHE_DIR": shared_dir,
        "TRUSTED_PROXIES": 0,
    }
    workers = [create_app(config) for _ in range(max(w for _, w in picks) + 1)]
    counts = {"rendered": 0, "shared": 0}
    for app in workers:
        data = app.extensions["blog_data"]
        post_page = data.post_page

        def counted_page(slug: str, post_page: Callable = post_page) -> tuple:
            counts["rendered"] += 1
            return post_page(slug)

        data.post_page = counted_page
        shared: SharedPages | None = app.extensions["shared_pages"]
        if shared is not None:
            shared_get = shared.get

            def counted_get(key: str, shared_get: Callable = shared_get) -> object:
                entry = shared_get(key)
                counts["shared"] += entry is not None
                return entry

            shared.get = counted_get
        b"".join(app(environ("/"), start_response))  # up and tracking, as after a warm-up
    start = len(picks) - measured
    for i, (post, worker) in enumerate(picks):
        if i == start:
            began, before = time.perf_counter(), dict(counts)
        b"".join(workers[worker](environ(f"/posts/post-number-{post}"), start_response))
    wall = time.perf_counter() - began
    rendered = (counts["rendered"] - before["rendered"]) / measured
    shared_hits = (counts["shared"] - before["shared"]) / measured
    return {
        "own": 1 - rendered - shared_hits,
        "shared": shared_hits,
        "rendered": rendered,
        "ms": wall / measured * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=22_500, help="warm-up and measured")
    parser.add_argument("--measured", type=int, default=15_000, help="the last ones")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="blog-hits-"))
    shared_root = Path(tempfile.mkdtemp(prefix="blog-hits-", dir="/dev/shm"))
    server = RedisServer(work / "redis", persistent=False).start()
    try:
        seed(server.url, "blog:", args.posts, timeout=600)
        weights = list(itertools.accumulate(1 / rank for rank in range(1, args.posts + 1)))
        rng = random.Random(args.seed)
        picks = [
            (
                args.posts - 1 - rng.choices(range(args.posts), cum_weights=weights)[0],
                rng.randrange(args.workers),
            )
            for _ in range(args.requests)
        ]
        print(
            f"{args.posts:,} posts, {args.workers} workers, {args.requests:,} post page "
            f"requests by Zipf popularity; the last {args.measured:,} counted\n"
        )
        print("| pages | own cache | another worker's | rendered | ms a request |")
        print("|---|---:|---:|---:|---:|")
        for name, directory in (("each worker its own", ""), ("shared", str(shared_root))):
            r = replay(server.url, directory, picks, args.measured)
            print(
                f"| {name} | {r['own']:.1%} | {r['shared']:.1%} | {r['rendered']:.1%} | "
                f"{r['ms']:.3f} |"
            )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shared_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
