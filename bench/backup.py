"""Backup benchmark: archive throughput against `tar czf`, and peak memory at two sizes.

    .venv/bin/python bench/backup.py              # 10,000 posts + 200 MB, then twice that
    .venv/bin/python bench/backup.py --scale 0.1  # a quick run
    .venv/bin/python bench/backup.py --targets local

A private redis-server gets N posts (with tags and comments; written in the data model's
shape, indexes built by `reindex()`), two authors and image records whose files are
random bytes in JPEG clothing (incompressible, like real photos) in a LocalStorage
directory. Each backup runs in a child process (`service.run_backup`, as the job does)
that reports its own peak RSS (VmHWM); targets are a local directory and S3 (a moto server in
this process, over HTTP, 8 MiB multipart parts: it shares the 2 cores with the backup, not
its GIL). `tar czf` archives the same image files
in the same run (gzip's default level 6). Throughput = image MB / wall time (the backup
also exports the posts, tar does not). The machine is shared, so `tar czf` and the
backup run alternately `--repeat` times and the medians are compared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MB = 1024 * 1024
WORDS = [
    "redis",
    "blog",
    "post",
    "backup",
    "archive",
    "stream",
    "python",
    "flask",
    "worker",
    "queue",
    "image",
    "photo",
    "night",
    "morning",
    "coffee",
    "code",
    "test",
    "deploy",
    "server",
    "data",
    "index",
    "tag",
    "comment",
    "reader",
    "über",
    "café",
    "naïve",
    "日本",
    "東京",
    "✓",
]


# ---- child: one backup run ------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    from blog.backups import service
    from blog.backups.targets import LocalTarget, S3Target, s3_client
    from blog.data import DataLayer, connect
    from blog.storage import LocalStorage

    data = DataLayer(connect(args.redis_url), "blog:")
    if args.target.startswith("s3:"):
        bucket, endpoint = args.target[3:].split("@", 1)
        target = S3Target(bucket, client=s3_client(endpoint))
    else:
        target = LocalTarget(args.target[len("local:") :])
    started = time.perf_counter()
    outcome = service.run_backup(
        data, LocalStorage(args.media_root), target, {"BACKUP_KEEP_DAYS": 30, "BACKUP_KEEP_MIN": 7}
    )
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "elapsed": elapsed,
                "size": outcome["size"],
                "counts": outcome["counts"],
                "key": outcome["key"],
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def run_child(script: str, *args: str) -> dict:
    """Run a benchmark script again as `script --child *args` (so it measures its own
    peak memory) and return the JSON of its last output line."""
    result = subprocess.run(
        [sys.executable, script, "--child", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{Path(script).stem} child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux keeps getrusage's ru_maxrss across exec, so a child
    started by a big parent (moto holds every uploaded archive in memory) would report
    the parent's size; VmHWM belongs to the new address space only."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---- parent ---------------------------------------------------------------------------


def populate(
    data, media_root: Path, first_post: int, posts: int, media_bytes: int, rng: random.Random
) -> None:
    """Posts with tags and comments (pipelined writes of the entity keys), and ready
    image records with their files."""
    from blog.data.reindex import reindex

    r, keys = data.redis, data.keys
    users = [
        data.users.by_username(n) or data.users.create(n, "correct horse battery")
        for n in ("alice", "bob")
    ]
    now, comment_id = time.time(), int(r.get(keys.next_id("comment")) or 0)
    pipe = r.pipeline(transaction=False)
    for post_id in range(first_post + 1, first_post + posts + 1):
        author = users[post_id % 2]
        body = " ".join(rng.choices(WORDS, k=rng.randint(80, 400)))
        status = ("published", "published", "published", "draft", "scheduled")[post_id % 5]
        published = {"draft": 0.0, "scheduled": now + 86400}.get(status, now - post_id)
        slug = f"post-{post_id}"
        pipe.hset(
            keys.post(post_id),
            mapping={
                "id": post_id,
                "slug": slug,
                "title": f"Post {post_id}: {body[:40]}",
                "body": body,
                "html": f"<p>{body}</p>",
                "excerpt": body[:200],
                "author_id": author.id,
                "author": author.username,
                "status": status,
                "published_at": published,
                "created_at": now - post_id,
                "updated_at": now,
            },
        )
        pipe.sadd(keys.post_slugs(post_id), slug)
        pipe.sadd(keys.post_tags(post_id), *rng.sample(WORDS[:12], 3))
        for _ in range(rng.randint(0, 6)):
            comment_id += 1
            pending = rng.random() < 0.2
            pipe.hset(
                keys.comment(comment_id),
                mapping={
                    "id": comment_id,
                    "post_id": post_id,
                    "name": "Reader",
                    "body": " ".join(rng.choices(WORDS, k=30)),
                    "created_at": now,
                    "status": "pending" if pending else "approved",
                },
            )
            pipe.zadd(
                keys.post_pending(post_id) if pending else keys.post_comments(post_id),
                {comment_id: now + comment_id},
            )
        if post_id % 500 == 0:
            pipe.execute()
    pipe.set(keys.next_id("post"), first_post + posts)
    pipe.set(keys.next_id("comment"), comment_id)
    pipe.execute()
    reindex(r, keys)

    from blog.data import ImageVariant

    written = 0
    while written < media_bytes:
        size = min(rng.randint(100_000, 700_000), max(media_bytes - written, 1000))
        record = data.images.create(users[0].id, "JPEG", "jpg", "image/jpeg", size, "p.jpg")
        path = media_root / record.storage_key("original")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(size - 6) + b"\xff\xd9")
        data.images.mark_ready(
            record.id, 4000, 3000, [], [ImageVariant("original", 4000, 3000, size)]
        )
        written += size


def run_backup_child(redis_url: str, media_root: Path, target: str) -> dict:
    return run_child(
        __file__, "--redis-url", redis_url, "--media-root", str(media_root), "--target", target
    )


def tar_czf(media_root: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["tar", "czf", str(out), "-C", str(media_root), "images"], check=True)
    return time.perf_counter() - started


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of 10,000 posts / 200 MB per step (default 1)",
    )
    parser.add_argument("--targets", default="local,s3", help="local, s3 or both")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, medians (1-9)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--media-root", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return args
    if not 0 < args.scale <= 4:
        parser.error("--scale must be in (0, 4]")
    if not 1 <= args.repeat <= 9:
        parser.error("--repeat must be between 1 and 9")
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not args.targets or set(args.targets) - {"local", "s3"}:
        parser.error("--targets takes local, s3 or local,s3")
    return args


def start_moto():
    """A moto S3 server in this process; returns it, its endpoint and a client."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="bench-backups")
    return moto, endpoint, s3


def measure_target(
    redis_url: str, work: Path, target: str, endpoint: str | None, s3, repeat: int
) -> dict:
    """`tar czf` and the backup, alternately, `repeat` times each."""
    spec = f"local:{work / 'backups'}" if target == "local" else f"s3:bench-backups@{endpoint}"
    tar_times, runs = [], []
    for _ in range(repeat):
        tar_times.append(tar_czf(work / "media", work / "tar.tar.gz"))
        tar_size = (work / "tar.tar.gz").stat().st_size
        (work / "tar.tar.gz").unlink()
        run = run_backup_child(redis_url, work / "media", spec)
        if target == "s3":  # moto keeps objects in this process's memory
            for key in (run["key"], run["key"] + ".sha256"):
                s3.delete_object(Bucket="bench-backups", Key=key)
        shutil.rmtree(work / "backups", ignore_errors=True)
        runs.append(run)
    seconds = statistics.median(r["elapsed"] for r in runs)
    tar_seconds = statistics.median(tar_times)
    media_mb = runs[0]["counts"]["media_bytes"] / MB
    return {
        "posts": runs[0]["counts"]["posts"],
        "media_mb": media_mb,
        "target": target,
        "archive_mb": runs[0]["size"] / MB,
        "seconds": seconds,
        "mb_s": media_mb / seconds,
        "tar_mb_s": media_mb / tar_seconds,
        "tar_mb": tar_size / MB,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


def report(rows: list[dict], targets: list[str], repeat: int) -> None:
    print(f"\nmedians of {repeat} alternating runs")
    header = (
        "| posts | images MB | target | archive MB | backup s | backup MB/s | "
        "tar czf MB/s | ratio | peak RSS MB |"
    )
    print(header)
    print("|" + "---|" * 9)
    for row in rows:
        print(
            f"| {row['posts']:,} | {row['media_mb']:.0f} | {row['target']} | "
            f"{row['archive_mb']:.0f} | {row['seconds']:.1f} | {row['mb_s']:.1f} | "
            f"{row['tar_mb_s']:.1f} | {row['mb_s'] / row['tar_mb_s']:.2f} | "
            f"{row['peak_rss_mb']:.0f} |"
        )
    for target in targets:
        peaks = [r["peak_rss_mb"] for r in rows if r["target"] == target]
        if len(peaks) == 2:
            print(f"peak memory ratio ({target}, 2x data / 1x data): {peaks[1] / peaks[0]:.2f}")


def main() -> None:
    args = parse_args()
    if args.child:
        return child(args)

    from blog.data import DataLayer, connect
    from devtools.redis_server import RedisServer

    step_posts, step_bytes = int(10_000 * args.scale), int(200 * MB * args.scale)
    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    server = RedisServer(work / "redis", persistent=False).start()
    moto, endpoint, s3 = start_moto() if "s3" in args.targets else (None, None, None)
    rows = []
    try:
        data = DataLayer(connect(server.url), "blog:")
        rng = random.Random(1)
        for step in (1, 2):
            t0 = time.perf_counter()
            populate(data, work / "media", (step - 1) * step_posts, step_posts, step_bytes, rng)
            print(
                f"[step {step}] data ready in {time.perf_counter() - t0:.1f} s "
                f"({step * step_posts:,} posts, {step * step_bytes / MB:.0f} MB of images)",
                file=sys.stderr,
            )
            for target in args.targets:
                row = measure_target(server.url, work, target, endpoint, s3, args.repeat)
                rows.append(row)
                print(f"[step {step}] {target}: {row['seconds']:.1f} s", file=sys.stderr)
    finally:
        server.stop()
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args.targets, args.repeat)


if __name__ == "__main__":
    main()
