"""WordPress import benchmark: posts per second and the importing process's peak memory
at two sizes, against reading the same file without importing it.

    .venv/bin/python bench/import.py              # 10,000 posts (~50 MB), then 20,000
    .venv/bin/python bench/import.py --scale 0.1  # a quick run

A generated WXR 1.2 file (bench/wxr.py: ten paragraphs of block-editor HTML, three
approved comments and a tag per post, no images) is imported into a private, empty
redis-server by a child process running what the job runs (`Importer.run`: the counting
pass, then the import through the data layer); the child reports its elapsed time and
its own peak RSS (VmHWM). The baseline, in the same run and also in a child, reads the
file twice with the same streaming reader and imports nothing: the ratio
import time / read time says what the import itself costs. The memory ratio is the peak
at 20,000 posts over the peak at 10,000 (goal: at most 1.1, memory does not grow with
the file).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.backup import peak_rss_mb, run_child
from bench.wxr import write_wxr

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
COMMENTS = 3
PARAGRAPHS = 10


def child(args: argparse.Namespace) -> None:
    from blog.data import DataLayer, connect
    from blog.imports.fetch import Fetcher
    from blog.imports.service import Importer, no_progress
    from blog.storage import LocalStorage
    from processing.wordpress import count_items, read_wxr

    path = Path(args.file)
    started = time.perf_counter()
    if args.read_only:
        with path.open("rb") as f:
            count_items(f)
        with path.open("rb") as f:
            counts = {"items": sum(1 for _ in read_wxr(f))}
    else:
        data = DataLayer(connect(args.redis_url), "blog:")
        owner = data.users.by_username("bench") or data.users.create("bench", "bench password 1")
        importer = Importer(
            data, LocalStorage(args.media_root), owner, Fetcher(MB, 5), lambda _id: None
        )
        counts = importer.run(lambda: path.open("rb"), no_progress)
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "counts": counts, "peak_rss_mb": peak_rss_mb()}))


def in_child(*extra: str) -> dict:
    return run_child(__file__, *extra)


def measure(posts: int, work: Path, redis_url: str) -> dict:
    path = work / f"wordpress-{posts}.xml"
    with path.open("w", encoding="utf-8") as f:
        write_wxr(f, posts, paragraphs=PARAGRAPHS, comments=COMMENTS)
    read = in_child("--file", str(path), "--read-only")
    run = in_child("--file", str(path), "--redis-url", redis_url, "--media-root", str(work))
    counts = run["counts"]
    assert counts["posts"] == posts and counts["comments"] == posts * COMMENTS, counts
    return {
        "posts": posts,
        "comments": counts["comments"],
        "file_mb": path.stat().st_size / MB,
        "import_s": run["elapsed"],
        "posts_per_s": posts / run["elapsed"],
        "read_s": read["elapsed"],
        "ratio": run["elapsed"] / read["elapsed"],
        "peak_mb": run["peak_rss_mb"],
        "read_peak_mb": read["peak_rss_mb"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 10,000 posts")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--read-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--media-root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if not 0.01 <= args.scale <= 4:
        parser.error("--scale must be in [0.01, 4]")

    from devtools.redis_server import RedisServer

    posts = int(10_000 * args.scale)
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    rows = []
    for size in (posts, 2 * posts):
        server = RedisServer(work / f"redis-{size}", persistent=False).start()
        try:
            rows.append(measure(size, work, server.url))
        finally:
            server.stop()
        print(f"[{size} posts] {rows[-1]['import_s']:.1f} s", file=sys.stderr)
    print(
        "| posts | comments | file MB | import s | posts/s | read-only s | ratio"
        " | peak RSS MB | read-only peak MB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['posts']:,} | {r['comments']:,} | {r['file_mb']:.1f} | {r['import_s']:.1f} | "
            f"{r['posts_per_s']:.0f} | {r['read_s']:.1f} | {r['ratio']:.1f} | "
            f"{r['peak_mb']:.0f} | {r['read_peak_mb']:.0f} |"
        )
    memory_ratio = rows[1]["peak_mb"] / rows[0]["peak_mb"]
    print(
        f"\nPeak memory at {rows[1]['posts']:,} posts / at {rows[0]['posts']:,}: "
        f"{memory_ratio:.2f} (goal <= 1.1)"
    )


if __name__ == "__main__":
    main()
