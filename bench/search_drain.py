"""Batched search indexing against one call per post, in one process, same posts.

    .venv/bin/python bench/search_drain.py [--posts 1000] [--runs 2]

Starts a private redis-server, stores --posts short posts (600 words from a list of 10)
through the data layer, then per run: indexes them calling
`blog.search.service.index_post` once per post (the work of the old one-job-per-post
path, without RQ's cost per job), empties the index, marks them all pending and runs
`blog.search.service.drain_pending` (the drain job's work: 100 ids a round trip). Prints
posts/s of both.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from blog.data import DataLayer, PostInput, connect
from blog.search import service
from devtools.redis_server import RedisServer

WORDS = [
    "otter",
    "badger",
    "heron",
    "lynx",
    "ibex",
    "tapir",
    "okapi",
    "quokka",
    "narwhal",
    "walrus",
]


def clear_index(data: DataLayer) -> None:
    doomed = list(data.redis.scan_iter(match=data.keys.search_layout()[0] + "0:*", count=5000))
    if doomed:
        data.redis.delete(*doomed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory), persistent=False)
        server.start()
        try:
            data = DataLayer(connect(server.url), "bench:")
            ids = []
            for i in range(args.posts):
                body = " ".join(WORDS[(i + j) % 10] for j in range(600)) + f" w{i}"
                post = PostInput(f"Post {i}", body, ["t"], "published")
                ids.append(data.posts.create(1, "a", post).id)
            for run in range(1, args.runs + 1):
                clear_index(data)
                started = time.perf_counter()
                for post_id in ids:
                    service.index_post(data, post_id)
                one_by_one = time.perf_counter() - started
                clear_index(data)
                data.search.mark_pending(ids)
                started = time.perf_counter()
                outcome = service.drain_pending(data, "bench")
                drained = time.perf_counter() - started
                assert outcome["indexed"] == args.posts, outcome
                print(
                    f"run {run}: {args.posts} posts: index_post once per post "
                    f"{args.posts / one_by_one:,.0f} posts/s; drain {args.posts / drained:,.0f} "
                    "posts/s"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
