"""Page latency and Redis round trips with 100 posts, then with 100,000.

    .venv/bin/python bench/pages.py [--small 100] [--large 100000] [--requests 300]

Loads posts (with tags and comments) through the data layer into a private redis-server,
then requests the home page, a tag page and a post page through the WSGI app. Prints
median and p99 latency, Redis commands and round trips per request, and the
large/small latency ratio (goal: at most 1.2, and at most 3 round trips per page).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blog import create_app
from blog.data import DataLayer, PostInput, connect
from devtools.redis_server import RedisServer
from devtools.roundtrips import RoundTripCounter

TAGS = [f"topic-{i}" for i in range(50)]
BODY = "A paragraph with *emphasis*, `code` and a [link](https://example.org).\n\n" * 8


def seed_range(args: tuple[str, int, int]) -> None:
    url, start, stop = args
    data = DataLayer(connect(url), "blog:")
    for i in range(start, stop):
        tags = ["redis", TAGS[i % len(TAGS)]]
        post = data.posts.create(1, "alice", PostInput(
            title=f"Post number {i}", body=BODY, tags=tags, status="published"))
        for c in range(3 if i % 10 == 0 else 0):
            data.comments.add(post.id, 1, f"reader {c}", "Thanks, this helped.", False)


def seed(url: str, total: int, already: int) -> None:
    """Grow the blog to `total` posts, in two processes (Redis and Python share 2 cores)."""
    chunk = 2_000
    ranges = [(url, s, min(s + chunk, total)) for s in range(already, total, chunk)]
    with Pool(2) as pool:
        pool.map(seed_range, ranges)


def measure(app, counter: RoundTripCounter, path: str, requests: int) -> dict:
    client = app.test_client()
    for _ in range(20):  # warm up
        assert client.get(path).status_code == 200, path
    timings = []
    counter.reset()
    for _ in range(requests):
        t = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    timings.sort()
    return {
        "median": statistics.median(timings),
        "p99": timings[int(len(timings) * 0.99) - 1],
        "round_trips": counter.round_trips / requests,
        "commands": counter.commands / requests,
    }


def run(size: int, url: str, requests: int) -> dict[str, dict]:
    counter = RoundTripCounter(url)
    # The data path itself: the visitors' page cache (blog/pagecache.py) is off here.
    app = create_app({"APP_ENV": "testing", "REDIS_URL": url, "SECRET_KEY": "bench",
                      "PAGE_CACHE_SECONDS": 0})
    app.extensions["blog_data"] = DataLayer(counter.client, "blog:")
    pages = {"home /": "/", "tag /tags/redis": "/tags/redis",
             "post /posts/<slug>": "/posts/post-number-10", "tags /tags": "/tags"}
    return {name: measure(app, counter, path, requests) for name, path in pages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    server = RedisServer(Path(tempfile.mkdtemp()), persistent=False).start()
    try:
        results = {}
        loaded = 0
        for size in (args.small, args.large):
            t = time.perf_counter()
            seed(server.url, size, loaded)
            loaded = size
            print(f"loaded {size:,} posts in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            results[size] = run(size, server.url, args.requests)
        report(results, args.small, args.large)
    finally:
        server.stop()


def report(results: dict, small: int, large: int) -> None:
    print(f"\nPage benchmark ({os.cpu_count()} cores; WSGI test client; page cache off; "
          f"{small:,} vs {large:,} posts)\n")
    print("| page | posts | median ms | p99 ms | Redis commands | round trips |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in (small, large):
        for page, r in results[size].items():
            print(f"| {page} | {size:,} | {r['median']:.2f} | {r['p99']:.2f} | "
                  f"{r['commands']:.0f} | {r['round_trips']:.0f} |")
    print(f"\n| page | median ratio {large:,}/{small:,} | round trips |")
    print("|---|---:|---:|")
    for page in results[small]:
        ratio = results[large][page]["median"] / results[small][page]["median"]
        trips = results[large][page]["round_trips"]
        print(f"| {page} | {ratio:.2f} {'ok' if ratio <= 1.2 else 'OVER 1.2'} | "
              f"{trips:.0f} {'ok' if trips <= 3 else 'OVER 3'} |")


if __name__ == "__main__":
    main()
