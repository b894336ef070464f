"""Page latency and Redis round trips with 100 posts and with 100,000.

    .venv/bin/python bench/pages.py [--small 100] [--large 100000] [--requests 300]

Loads two blogs (with tags and comments) through the data layer into one private
redis-server, under two key prefixes, then requests the home page, a tag page, a post
page and /tags through the WSGI app, alternating between the two blogs request by
request so that machine noise falls on both alike. Prints median and p99 latency, Redis
commands and round trips per request, and the large/small latency ratio (goals: at most
1.2, and at most 3 round trips per page). The visitors' page cache is off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from seed import seed  # bench/ is the script's own directory

from blog import create_app
from blog.data import DataLayer
from devtools.redis_server import RedisServer
from devtools.roundtrips import RoundTripCounter

PAGES = {
    "home /": "/",
    "tag /tags/redis": "/tags/redis",
    "post /posts/<slug>": "/posts/post-number-10",
    "tags /tags": "/tags",
}


def blog_client(url: str, prefix: str) -> tuple:
    counter = RoundTripCounter(url)
    # The data path itself: the visitors' page cache (blog/pagecache.py) is off here.
    app = create_app(
        {
            "APP_ENV": "testing",
            "REDIS_URL": url,
            "SECRET_KEY": "bench",
            "PAGE_CACHE_SECONDS": 0,
            "HTTP_CACHE_SECONDS": 0,
            "KEY_PREFIX": prefix,
        }
    )
    app.extensions["blog_data"] = DataLayer(counter.client, prefix)
    return app.test_client(), counter


def timed_get(client, counter: RoundTripCounter, path: str) -> tuple[float, int, int]:
    counter.reset()
    start = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    assert response.status_code == 200, path
    return elapsed, counter.round_trips, counter.commands


def summarize(samples: list[tuple[float, int, int]]) -> dict:
    timings = sorted(t for t, _, _ in samples)
    return {
        "median": statistics.median(timings),
        "p99": timings[int(len(timings) * 0.99) - 1],
        "round_trips": statistics.mean(r for _, r, _ in samples),
        "commands": statistics.mean(c for _, _, c in samples),
    }


def measure(url: str, sizes: dict[int, str], requests: int) -> dict[int, dict]:
    """Both blogs side by side in one Redis; requests alternate between them, so noise
    from the machine falls on both alike."""
    clients = {size: blog_client(url, prefix) for size, prefix in sizes.items()}
    results: dict[int, dict] = {size: {} for size in sizes}
    for name, path in PAGES.items():
        samples: dict[int, list] = {size: [] for size in sizes}
        for i in range(requests + 20):
            for size, (client, counter) in clients.items():
                sample = timed_get(client, counter, path)
                if i >= 20:  # warm-up done
                    samples[size].append(sample)
        for size in sizes:
            results[size][name] = summarize(samples[size])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    server = RedisServer(Path(tempfile.mkdtemp()), persistent=False).start()
    sizes = {args.small: "small:", args.large: "large:"}
    try:
        for size, prefix in sizes.items():
            t = time.perf_counter()
            seed(server.url, prefix, size)
            print(f"loaded {size:,} posts in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        report(measure(server.url, sizes, args.requests), args.small, args.large)
    finally:
        server.stop()


def report(results: dict, small: int, large: int) -> None:
    print(
        f"\nPage benchmark ({os.cpu_count()} cores; WSGI test client; page cache off; "
        f"{small:,} vs {large:,} posts)\n"
    )
    print("| page | posts | median ms | p99 ms | Redis commands | round trips |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in (small, large):
        for page, r in results[size].items():
            print(
                f"| {page} | {size:,} | {r['median']:.2f} | {r['p99']:.2f} | "
                f"{r['commands']:.0f} | {r['round_trips']:.0f} |"
            )
    print(f"\n| page | median ratio {large:,}/{small:,} | round trips |")
    print("|---|---:|---:|")
    for page in results[small]:
        ratio = results[large][page]["median"] / results[small][page]["median"]
        trips = results[large][page]["round_trips"]
        print(
            f"| {page} | {ratio:.2f} {'ok' if ratio <= 1.2 else 'OVER 1.2'} | "
            f"{trips:.0f} {'ok' if trips <= 3 else 'OVER 3'} |"
        )


if __name__ == "__main__":
    main()
