"""Export benchmark: the Markdown site bundle against `zip -r`, peak memory at two
sizes, and the EPUB book's build time.

    .venv/bin/python bench/export.py              # 10,000 posts + 200 MB, then twice that
    .venv/bin/python bench/export.py --scale 0.1  # a quick run

A private redis-server gets posts (tags, comments, drafts, scheduled posts; written in
the data model's shape by bench/backup.py's `populate`) and image files of random bytes
(incompressible, like photos) in a LocalStorage directory, each image shown by one
published post. Each build runs in a child process (`service.build_document`, as the
job does) that reports its own peak RSS (VmHWM). `zip -r` (deflate -6) then archives the
same files laid out on disk (the bundle, extracted) in the same run: the ratio is
`zip -r` time / bundle time (above 1: the bundle is faster). First, a smaller blog with
about 1,000 published posts is built as an EPUB book.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.backup import peak_rss_mb, populate, run_child

ROOT = Path(__file__).resolve().parent.parent

MB = 1024 * 1024


def child(args: argparse.Namespace) -> None:
    from blog.data import DataLayer, connect
    from blog.exports import service
    from blog.storage import LocalStorage

    data = DataLayer(connect(args.redis_url), "blog:")
    started = time.perf_counter()
    with open(args.out, "wb") as out:
        counts = service.build_document(
            data,
            LocalStorage(args.media_root),
            {"BLOG_TITLE": "Bench blog"},
            fmt=args.format,
            out=out,
            draft_authors=data.users.all_ids(),
        )
    elapsed = time.perf_counter() - started
    print(json.dumps({"elapsed": elapsed, "counts": counts, "peak_rss_mb": peak_rss_mb()}))


def build_in_child(redis_url: str, media_root: Path, fmt: str, out: Path) -> dict:
    return run_child(
        __file__, "--redis-url", redis_url, "--media-root", str(media_root),
        "--format", fmt, "--out", str(out),
    )  # fmt: skip


def show_images(data, first_post: int, posts: int, shown: set[str]) -> None:
    """Each image not shown yet gets one of the new published posts to show it."""
    r, keys = data.redis, data.keys
    images = [i for i in r.zrange(keys.user_images(1), 0, -1) if i not in shown]
    published = [p for p in range(first_post + 1, first_post + posts + 1) if p % 5 in (0, 1, 2)]
    pipe = r.pipeline(transaction=False)
    for image_id, post_id in zip(images, published, strict=False):
        link = f"\n\n![photo](/media/{image_id}/original.jpg)\n"
        pipe.hset(keys.post(post_id), "body", r.hget(keys.post(post_id), "body") + link)
        shown.add(image_id)
    pipe.execute()


def zip_r(folder: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["zip", "-r", "-q", "-6", str(out), "."], cwd=folder, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of 10,000 posts / 200 MB per step"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--media-root", help=argparse.SUPPRESS)
    parser.add_argument("--format", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if not 0.2 <= args.scale <= 4:
        parser.error("--scale must be in [0.2, 4] (the EPUB blog alone has 1,667 posts)")

    from blog.data import DataLayer, connect
    from devtools.redis_server import RedisServer

    step_posts, step_bytes = int(10_000 * args.scale), int(200 * MB * args.scale)
    book_posts = 1_667  # 60% of populate()'s posts are published: about 1,000 chapters
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    server = RedisServer(work / "redis", persistent=False).start()
    rows, book = [], None
    try:
        data = DataLayer(connect(server.url), "blog:")
        media_root, rng = work / "media", random.Random(1)
        populate(data, media_root, 0, book_posts, int(book_posts / 10_000 * 200 * MB), rng)
        shown: set[str] = set()
        show_images(data, 0, book_posts, shown)
        book = build_in_child(server.url, media_root, "epub", work / "book.epub")
        print(f"[book] {book['elapsed']:.1f} s", file=sys.stderr)
        done = book_posts
        for total in (step_posts, 2 * step_posts):
            adding = total - done
            populate(data, media_root, done, adding, int(adding / step_posts * step_bytes), rng)
            show_images(data, done, adding, shown)
            done = total
            bundle = work / "bundle.zip"
            run = build_in_child(server.url, media_root, "markdown", bundle)
            layout = work / "layout"
            with zipfile.ZipFile(bundle) as archive:
                archive.extractall(layout)
                content = sum(i.file_size for i in archive.infolist())
            zip_seconds = zip_r(layout, work / "zip-r.zip")
            rows.append(
                {
                    "posts": run["counts"]["posts"],
                    "images": run["counts"]["images"],
                    "content_mb": content / MB,
                    "archive_mb": run["counts"]["bytes"] / MB,
                    "seconds": run["elapsed"],
                    "mb_s": content / MB / run["elapsed"],
                    "zip_mb_s": content / MB / zip_seconds,
                    "ratio": zip_seconds / run["elapsed"],
                    "peak_rss_mb": run["peak_rss_mb"],
                }
            )
            print(f"[{total:,} posts] bundle {run['elapsed']:.1f} s", file=sys.stderr)
            shutil.rmtree(layout)
            (work / "zip-r.zip").unlink()
            bundle.unlink()
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(
        "| posts | images | content MB | bundle MB | bundle s | bundle MB/s | "
        "`zip -r` MB/s | ratio | peak RSS MB |"
    )
    print("|" + "---:|" * 9)
    for row in rows:
        print(
            f"| {row['posts']:,} | {row['images']:,} | {row['content_mb']:.0f} | "
            f"{row['archive_mb']:.0f} | {row['seconds']:.1f} | {row['mb_s']:.1f} | "
            f"{row['zip_mb_s']:.1f} | {row['ratio']:.2f} | {row['peak_rss_mb']:.0f} |"
        )
    if len(rows) == 2:
        print(
            f"\nPeak memory at {rows[1]['posts']:,} / {rows[0]['posts']:,} posts: "
            f"{rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f} (goal at most 1.1)"
        )
    print(
        f"EPUB book: {book['counts']['posts']:,} posts, {book['counts']['images']:,} images, "
        f"{book['counts']['bytes'] / MB:.1f} MB in {book['elapsed']:.1f} s "
        f"(peak RSS {book['peak_rss_mb']:.0f} MB)"
    )


if __name__ == "__main__":
    main()
