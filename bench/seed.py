"""Filling a private Redis with a blog for the benchmarks, through the data layer."""

from __future__ import annotations

from multiprocessing import Pool

from blog.data import DataLayer, PostInput, connect

TAGS = [f"topic-{i}" for i in range(50)]
BODY = "A paragraph with *emphasis*, `code` and a [link](https://example.org).\n\n" * 8
CHUNK = 1_000


def _seed_range(args: tuple[str, str, int, int]) -> None:
    url, prefix, start, stop = args
    data = DataLayer(connect(url), prefix)
    for i in range(start, stop):
        # Every post is tagged "redis" (the largest tag page) and one topic of 50.
        post = data.posts.create(
            1,
            "alice",
            PostInput(
                title=f"Post number {i}",
                body=BODY,
                tags=["redis", TAGS[i % len(TAGS)]],
                status="published",
            ),
        )
        for c in range(3 if i % 10 == 0 else 0):
            data.comments.add(post.id, 1, f"reader {c}", "Thanks, this helped.", False)


def seed(url: str, prefix: str, total: int, timeout: float | None = None) -> None:
    """`total` posts (every tenth with 3 comments) in two processes: Redis and Python
    share the machine's 2 cores."""
    ranges = [(url, prefix, s, min(s + CHUNK, total)) for s in range(0, total, CHUNK)]
    with Pool(2) as pool:
        pool.map_async(_seed_range, ranges).get(timeout)
