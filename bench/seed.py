"""Filling a private Redis with a blog for the benchmarks, through the data layer."""

from __future__ import annotations

from multiprocessing import Pool

import redis

from blog.data import DataLayer, PostInput, connect
from blog.data.keys import Keys

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


def _bulk_range(args: tuple[str, str, dict, dict, int, int, int]) -> None:
    """Posts start..stop-1 as copies of post 0's hashes, in pipelines of 1,000 posts."""
    url, prefix, post, comment, start, stop, total = args
    keys = Keys(prefix)
    pipe = connect(url).pipeline(transaction=False)
    newest = float(post["published_at"])
    for i in range(start, stop):
        post_id, slug = i + 1, f"post-number-{i}"
        when = newest - (total - i) / 1000  # in the order of i, all before post 0
        fields = {**post, "id": post_id, "slug": slug, "title": f"Post number {i}"}
        fields.update(published_at=when, created_at=when, updated_at=when)
        pipe.hset(keys.post(post_id), mapping=fields)
        pipe.sadd(keys.post_slugs(post_id), slug)
        pipe.sadd(keys.post_tags(post_id), "redis", TAGS[i % len(TAGS)])
        for c in range(3 if i % 10 == 0 else 0):
            comment_id = i // 10 * 3 + c + 1
            fields = {**comment, "id": comment_id, "post_id": post_id, "name": f"reader {c}"}
            pipe.hset(keys.comment(comment_id), mapping={**fields, "created_at": when})
            pipe.zadd(keys.post_comments(post_id), {str(comment_id): when + c})
        if (i - start) % 1000 == 999:
            pipe.execute()
    pipe.execute()


def seed_bulk(url: str, prefix: str, total: int, timeout: float | None = None) -> None:
    """The blog seed() makes (same titles, slugs, tags, body and comments), many times
    faster: post 0 and its comments go through the data layer, the other posts are
    copies of their hashes written in pipelines by two processes, then the indexes
    (published list, tags, slugs, the author's posts) are built by `reindex()`, the
    path a restore takes."""
    from blog.data.reindex import reindex

    data = DataLayer(connect(url), prefix)
    author = data.users.by_username("alice") or data.users.create("alice", "bench only")
    first = data.posts.create(
        author.id,
        "alice",
        PostInput(title="Post number 0", body=BODY, tags=["redis", TAGS[0]], status="published"),
    )
    for c in range(3):
        data.comments.add(first.id, author.id, f"reader {c}", "Thanks, this helped.", False)
    post = data.redis.hgetall(data.keys.post(first.id))
    comment = data.redis.hgetall(data.keys.comment(1))
    step = 20 * CHUNK
    ranges = [
        (url, prefix, post, comment, s, min(s + step, total), total) for s in range(1, total, step)
    ]
    with Pool(2) as pool:
        pool.map_async(_bulk_range, ranges).get(timeout)
    data.redis.set(data.keys.next_id("post"), total)
    data.redis.set(data.keys.next_id("comment"), (total + 9) // 10 * 3)
    # One transaction writes every index: at 1,000,000 posts it outlasts redis-py's
    # default 5 s socket timeout on a busy machine.
    reindex(redis.Redis.from_url(url, decode_responses=True, socket_timeout=None), data.keys)
    data.redis.incr(data.keys.content_version)
