"""Writes during a backup never produce a broken archive: each post is read with its
comments in one atomic step, indexes are rebuilt on restore, counters are read last.
Every archive is restored (under another key prefix) and its invariants checked."""

from __future__ import annotations

import contextlib
import random
import threading
import time

import pytest
import redis

from blog.backups import service
from blog.backups.targets import LocalTarget
from blog.data import DataLayer, PostGone, PostInput
from blog.data.keys import Keys
from blog.data.records import Exporter, Importer
from blog.storage import LocalStorage
from tests.backup_helpers import check_invariants, make_varied_data

pytestmark = pytest.mark.slow


def _restore_records(r: redis.Redis, records: list[dict], prefix: str) -> dict:
    importer = Importer(r, Keys(prefix))
    for record in records:
        importer.add(record)
    importer.finish()
    return check_invariants(r, prefix)


def test_writes_between_export_batches_keep_every_post_whole(app, data, redis_client):
    make_varied_data(data, app.extensions["media_storage"], posts=60, images=0)
    alice = data.users.by_username("alice")
    exporter = Exporter(redis_client, data.keys, lambda key: 1, batch_size=5)
    stream = exporter.records()
    records = [next(stream) for _ in range(25)]  # a few posts are out, most are not

    rng = random.Random(7)
    post_ids = [
        int(k.split(":")[2]) for k in redis_client.scan_iter("blog:post:*") if k.count(":") == 2
    ]
    for post_id in post_ids:  # every post changes under the exporter's feet
        post = data.posts.get(post_id)
        if post is None:
            continue
        if rng.random() < 0.3:
            data.posts.delete(post)
            continue
        for comment in data.comments.for_post(post_id)[:1]:
            data.comments.delete(comment, post.author_id)
        data.comments.add(
            post_id,
            post.author_id,
            "late",
            "written during the backup",
            moderated=rng.random() < 0.5,
        )
    for i in range(5):
        new = data.posts.create(
            alice.id,
            alice.username,
            PostInput(f"Born during the backup {i}", "body", ["new"], "published"),
        )
        data.comments.add(new.id, alice.id, "x", "y", moderated=False)
    records.extend(stream)

    comment_ids = {r["key"] for r in records if r["key"].startswith("comment:")}
    for record in records:  # each exported comment list matches exported comments
        if record["key"].endswith((":comments", ":pending")):
            assert {f"comment:{m}" for m, _ in record["value"]} <= comment_ids
    restored = _restore_records(redis_client, records, "copy:")
    assert restored["posts"] >= 30


def test_backups_taken_while_authors_and_readers_write_restore_consistently(
    app, data, redis_client, redis_url, tmp_path
):
    make_varied_data(data, app.extensions["media_storage"], posts=150, images=0)
    stop, errors, writes = threading.Event(), [], [0]

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        own = DataLayer(client, "blog:")
        author = own.users.by_username("alice")
        mine: list[int] = []
        try:
            while not stop.is_set():
                action = rng.random()
                if action < 0.35 or not mine:
                    post = own.posts.create(
                        author.id,
                        author.username,
                        PostInput(
                            f"Live {rng.random()}",
                            "body ✍️",
                            rng.sample(["a", "b", "c"], 2),
                            rng.choice(["published", "draft"]),
                        ),
                    )
                    mine.append(post.id)
                elif action < 0.8:
                    with contextlib.suppress(PostGone):
                        own.comments.add(
                            rng.choice(mine),
                            author.id,
                            "n",
                            "live comment",
                            moderated=rng.random() < 0.5,
                        )
                else:
                    post = own.posts.get(mine.pop(rng.randrange(len(mine))))
                    if post:
                        own.posts.delete(post)
                writes[0] += 1
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    target = LocalTarget(tmp_path / "backups")
    keys = []
    try:
        while writes[0] < 10 and not errors:  # writers up to speed first
            time.sleep(0.01)
        started = writes[0]
        # At least 3 backups, and as many as it takes for 100 writes to land during them.
        while (len(keys) < 3 or writes[0] - started < 100) and len(keys) < 20 and not errors:
            outcome = service.run_backup(data, app.extensions["media_storage"], target, app.config)
            keys.append(outcome["key"])
        during = writes[0] - started
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert during >= 100, "the writers barely ran during the backups: this proves nothing"

    for n, key in enumerate(keys):
        prefix = f"restored{n}:"
        restored = DataLayer(redis_client, prefix)
        result = service.restore_backup(restored, LocalStorage(tmp_path / f"media{n}"), target, key)
        counts = check_invariants(redis_client, prefix)
        assert counts["posts"] == result["posts"] >= 100
        # The restored blog works: pages can be listed through the data layer.
        assert restored.posts.page(1, 10).items
