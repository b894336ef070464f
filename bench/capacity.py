"""Capacity: Redis memory per post, pages at 1,000,000 posts against 100, and a backup.

    .venv/bin/python bench/capacity.py                     # 1,000,000 posts (many minutes)
    .venv/bin/python bench/capacity.py --posts 200000 --requests 100

Not part of `make test` or `make bench`. One private redis-server holds a blog of
`--small` posts made through the data layer (bench/seed.py `seed`) and one of `--posts`
posts made by `seed_bulk` (pipelined copies of a real post, indexes built by the restore
path), with the same titles, tags, body and comments (every tenth post has 3). Reports:

- Redis memory per post: the growth of `INFO memory` used_memory over the large blog,
  divided by its posts; and `MEMORY USAGE` of a sample of posts' own keys (hash, tags,
  slugs, listing card, comment list and comments), the rest being the shared indexes;
- page latency and round trips at both sizes, requests alternating (bench/pages.py),
  the goal being a large/small ratio of at most 1.2;
- a backup of the large blog to a local directory, in a child process as the job runs
  it: wall time, archive size, the process's peak RSS, and Redis's memory growth during
  the backup (sampled).
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import redis
from backup import run_backup_child  # bench/ is the script's own directory
from pages import measure, report
from seed import seed, seed_bulk

from blog.data.keys import Keys
from devtools.redis_server import RedisServer

MB = 1024 * 1024
LARGE_PREFIX = "blog:"  # the prefix the backup child exports
SMALL_PREFIX = "small:"


def used_memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def post_key_bytes(r: redis.Redis, keys: Keys, post_id: int) -> int:
    """MEMORY USAGE of one post's own keys (its listing card too) and its comments
    (SAMPLES 0: exact)."""
    names = [keys.post(post_id), keys.post_tags(post_id), keys.post_slugs(post_id)]
    names.append(keys.post_card(post_id))
    comments = r.zrange(keys.post_comments(post_id), 0, -1)
    if comments:
        names.append(keys.post_comments(post_id))
        names += [keys.comment(int(c)) for c in comments]
    pipe = r.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    return sum(size or 0 for size in pipe.execute())


def sample_post_bytes(r: redis.Redis, posts: int, samples: int = 500) -> dict:
    keys, rng = Keys(LARGE_PREFIX), random.Random(13)
    ids = [rng.randrange(1, posts + 1) for _ in range(samples)]
    sizes = [post_key_bytes(r, keys, i) for i in ids]
    # Every tenth post carries 3 comments: weigh the sample as the blog is.
    with_comments = [s for i, s in zip(ids, sizes, strict=True) if (i - 1) % 10 == 0]
    without = [s for i, s in zip(ids, sizes, strict=True) if (i - 1) % 10 != 0]
    mean_with = statistics.mean(with_comments) if with_comments else 0.0
    mean_without = statistics.mean(without) if without else 0.0
    return {
        "without_comments": mean_without,
        "with_3_comments": mean_with,
        "weighted": 0.9 * mean_without + 0.1 * mean_with,
    }


class MemoryWatch:
    """Samples Redis used_memory every 0.2 s in a thread; `peak` is the highest seen."""

    def __init__(self, r: redis.Redis) -> None:
        self.r, self.peak, self._stop = r, used_memory(r), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, used_memory(self.r))

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def backup(url: str, work: Path, r: redis.Redis) -> dict:
    (work / "media").mkdir(exist_ok=True)
    before = used_memory(r)
    with MemoryWatch(r) as watch:
        run = run_backup_child(url, work / "media", f"local:{work / 'backups'}")
    run["redis_growth_mb"] = (watch.peak - before) / MB
    shutil.rmtree(work / "backups", ignore_errors=True)
    return run


def print_memory(posts: int, growth: int, sampled: dict, seconds: float) -> None:
    per_post = growth / posts
    print(f"\nRedis memory ({posts:,} posts seeded in {seconds:.0f} s)\n")
    print("| measure | bytes per post |")
    print("|---|---:|")
    print(f"| INFO used_memory growth / posts (keys and indexes) | {per_post:,.0f} |")
    print(f"| MEMORY USAGE, a post's own keys, no comments | {sampled['without_comments']:,.0f} |")
    print(f"| MEMORY USAGE, a post's own keys, 3 comments | {sampled['with_3_comments']:,.0f} |")
    print(f"| MEMORY USAGE, weighted as the blog (1 in 10 with 3) | {sampled['weighted']:,.0f} |")
    print(f"| indexes and overhead (the difference) | {per_post - sampled['weighted']:,.0f} |")
    print(f"\nused_memory for the large blog: {growth / MB:,.0f} MB")


def print_backup(run: dict) -> None:
    print("\nBackup of the large blog (local directory, no images)\n")
    print("| posts | records | seconds | records/s | archive MB | peak RSS MB | Redis growth MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    records = run["counts"]["records"]
    print(
        f"| {run['counts']['posts']:,} | {records:,} | {run['elapsed']:.0f} | "
        f"{records / run['elapsed']:,.0f} | {run['size'] / MB:,.1f} | "
        f"{run['peak_rss_mb']:.0f} | {run['redis_growth_mb']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000, help="large blog (default 1e6)")
    parser.add_argument("--small", type=int, default=100, help="small blog (default 100)")
    parser.add_argument("--requests", type=int, default=300, help="per page and size")
    parser.add_argument("--no-backup", action="store_true", help="skip the backup")
    args = parser.parse_args()
    if not 1_000 <= args.posts <= 20_000_000:
        parser.error("--posts must be between 1,000 and 20,000,000")
    if not 10 <= args.small <= 10_000 or args.small >= args.posts:
        parser.error("--small must be between 10 and 10,000, and below --posts")
    if not 10 <= args.requests <= 10_000:
        parser.error("--requests must be between 10 and 10,000")

    work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    server = RedisServer(work / "redis", persistent=False).start()
    r = redis.Redis.from_url(server.url)
    try:
        seed(server.url, SMALL_PREFIX, args.small)
        before, started = used_memory(r), time.perf_counter()
        seed_bulk(server.url, LARGE_PREFIX, args.posts)
        seconds = time.perf_counter() - started
        growth = used_memory(r) - before
        print_memory(args.posts, growth, sample_post_bytes(r, args.posts), seconds)
        sizes = {args.small: SMALL_PREFIX, args.posts: LARGE_PREFIX}
        report(measure(server.url, sizes, args.requests), args.small, args.posts)
        if not args.no_backup:
            print_backup(backup(server.url, work, r))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
