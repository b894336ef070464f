"""Backup benchmark: archive throughput against `tar czf`, and peak memory at two sizes.

    .venv/bin/python bench/backup.py              # 10,000 posts + 200 MB, then twice that
    .venv/bin/python bench/backup.py --scale 0.1  # a quick run
    .venv/bin/python bench/backup.py --targets local

A private redis-server gets N posts (with tags and comments; written in the data model's
shape, indexes built by `reindex()`), two authors and image records whose files are
random bytes in JPEG clothing (incompressible, like real photos) in a LocalStorage
directory. Each backup runs in a child process (`service.run_backup`, as the job does)
that reports its own peak RSS (VmHWM); targets are a local directory and S3 (a moto server in
this process, over HTTP, 8 MiB multipart parts). `tar czf` archives the same image files
in the same run (gzip -6, like the backup). Throughput = image MB / wall time (the
backup also exports the posts, tar does not).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
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
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--redis-url",
            redis_url,
            "--media-root",
            str(media_root),
            "--target",
            target,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"backup child failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def tar_czf(media_root: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["tar", "czf", str(out), "-C", str(media_root), "images"], check=True)
    return time.perf_counter() - started


def parse_args() -> tuple[argparse.Namespace, list[str]]:
    """The arguments and the list of targets, checked."""
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
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--media-root", help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return args, []
    if not 0 < args.scale <= 4:
        parser.error("--scale must be in (0, 4]")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets or set(targets) - {"local", "s3"}:
        parser.error("--targets takes local, s3 or local,s3")
    return args, targets


def start_moto():
    """A moto S3 server in this process with the bucket created: (server, client, endpoint)."""
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
    return moto, s3, endpoint


def measure_target(
    server_url: str, media_root: Path, spec: str, target: str, s3, tar: tuple[float, int]
) -> dict:
    """One backup to one target, as a table row (tar = tar czf's seconds and size)."""
    tar_seconds, tar_size = tar
    run = run_backup_child(server_url, media_root, spec)
    if target == "s3":  # moto keeps objects in this process's memory
        s3.delete_object(Bucket="bench-backups", Key=run["key"])
    media_mb = run["counts"]["media_bytes"] / MB
    return {
        "posts": run["counts"]["posts"],
        "media_mb": media_mb,
        "target": target,
        "archive_mb": run["size"] / MB,
        "seconds": run["elapsed"],
        "mb_s": media_mb / run["elapsed"],
        "tar_mb_s": media_mb / tar_seconds,
        "tar_mb": tar_size / MB,
        "peak_rss_mb": run["peak_rss_mb"],
    }


def measure_tar(media_root: Path, work: Path) -> tuple[float, int]:
    """tar czf over the same images: (seconds, archive size)."""
    out = work / "tar.tar.gz"
    seconds = tar_czf(media_root, out)
    size = out.stat().st_size
    out.unlink()
    return seconds, size


def run_steps(args: argparse.Namespace, targets: list[str], work: Path, server_url: str) -> list:
    """Two steps (1x then 2x the data), each backed up to every target: the table rows."""
    from blog.data import DataLayer, connect

    step_posts, step_bytes = int(10_000 * args.scale), int(200 * MB * args.scale)
    moto, s3, endpoint = start_moto() if "s3" in targets else (None, None, "")
    rows = []
    try:
        data = DataLayer(connect(server_url), "blog:")
        media_root = work / "media"
        rng = random.Random(1)
        for step in (1, 2):
            t0 = time.perf_counter()
            populate(data, media_root, (step - 1) * step_posts, step_posts, step_bytes, rng)
            print(
                f"[step {step}] data ready in {time.perf_counter() - t0:.1f} s "
                f"({step * step_posts:,} posts, {step * step_bytes / MB:.0f} MB of images)",
                file=sys.stderr,
            )
            tar = measure_tar(media_root, work)
            for target in targets:
                spec = (
                    f"local:{work / 'backups'}"
                    if target == "local"
                    else f"s3:bench-backups@{endpoint}"
                )
                row = measure_target(server_url, media_root, spec, target, s3, tar)
                rows.append(row)
                print(f"[step {step}] {target}: {row['seconds']:.1f} s", file=sys.stderr)
            shutil.rmtree(work / "backups", ignore_errors=True)
    finally:
        if moto is not None:
            moto.stop()
    return rows


def print_table(rows: list, targets: list[str]) -> None:
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
    args, targets = parse_args()
    if args.child:
        return child(args)

    from devtools.redis_server import RedisServer

    work = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    server = RedisServer(work / "redis", persistent=False).start()
    try:
        rows = run_steps(args, targets, work, server.url)
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    print_table(rows, targets)


if __name__ == "__main__":
    main()
