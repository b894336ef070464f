"""Rebuild every derived index from the entities (docs/data-model.md says which is which).

A restore writes only entities and then calls :func:`reindex`; an operator can run it on
its own too. Scores follow the writers: `posts:published` and `tag:<name>` by publish
time (drafts excluded), `tags` = tags with at least one published or scheduled post,
`slugs` from each post's slug set, `user:<id>:posts` by the post's last edit,
`user:<id>:pending` by comment time (the post's pending list), `users` from author
hashes, `user:<id>:images` by upload time, `post:<id>:images` and `image:<id>:posts` from
the uploaded images each body shows (an image no post shows is added to `images:unused`,
by upload time, unless it is listed there already). The new indexes replace the old in one
MULTI/EXEC; then each post's listing card (`post:<id>:card`, blog/data/cards.py) is written
again in batches (until its batch runs, a listing builds a post's card on the fly). Meant
for a store without concurrent writers (a restore); memory grows with the number of posts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.client import Pipeline
from redis.typing import EncodableT

from ..rendering import MEDIA_ID
from .cards import write_cards
from .contentwatch import mark_changed
from .keys import DERIVED, Keys, family_of

Scores = dict[str, float]


def scan_app_keys(r: redis.Redis, prefix: str, count: int = 1000) -> Iterator[str]:
    """Every key under the prefix, without the prefix (SCAN may repeat a key)."""
    escaped = "".join("\\" + c if c in "*?[]\\" else c for c in prefix)
    for key in r.scan_iter(match=escaped + "*", count=count):
        yield key[len(prefix) :]


def batches(items: list, size: int) -> Iterator[list]:
    """`items` in consecutive lists of at most `size` (one pipeline each)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass
class _Entities:
    """Ids of the entities an index is built from, and the derived keys there now."""

    posts: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)
    images: set[str] = field(default_factory=set)
    derived: set[str] = field(default_factory=set)


@dataclass
class _Indexes:
    published: Scores = field(default_factory=dict)
    tags: dict[str, Scores] = field(default_factory=lambda: defaultdict(dict))
    slugs: dict[EncodableT, EncodableT] = field(default_factory=dict)  # HSET mapping
    user_posts: dict[str, Scores] = field(default_factory=lambda: defaultdict(dict))
    user_pending: dict[str, Scores] = field(default_factory=lambda: defaultdict(dict))
    usernames: dict[EncodableT, EncodableT] = field(default_factory=dict)
    user_images: dict[str, Scores] = field(default_factory=lambda: defaultdict(dict))
    post_images: dict[str, set[str]] = field(default_factory=dict)
    image_posts: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    unused_images: Scores = field(default_factory=dict)


def reindex(r: redis.Redis, keys: Keys, batch_size: int = 500) -> dict[str, int]:
    """Recompute every derived index from the entities, replacing what is there."""
    entities = _find_entities(r, keys)
    indexes = _Indexes()
    _index_posts(r, keys, sorted(entities.posts), indexes, batch_size)
    _index_authors(r, keys, sorted(entities.users), indexes, batch_size)
    _index_images(r, keys, sorted(entities.images), indexes, batch_size)
    _index_image_use(r, keys, sorted(entities.posts), indexes, batch_size)
    _replace(r, keys, entities.derived, indexes)
    cards = write_cards(r, keys, sorted(entities.posts), batch_size)
    with r.pipeline(transaction=True) as pipe:  # what visitors see changed: re-render
        mark_changed(pipe, keys)
        pipe.execute()
    return {
        "posts": len(indexes.published),
        "tags": len(indexes.tags),
        "slugs": len(indexes.slugs),
        "authors": len(indexes.usernames),
        "cards": cards,
    }


def _find_entities(r: redis.Redis, keys: Keys) -> _Entities:
    found = _Entities()
    for name in scan_app_keys(r, keys.prefix):
        family = family_of(name)
        if family is None:
            continue
        if family.backup is DERIVED:
            found.derived.add(keys.prefix + name)
            continue
        slots = family.match(name) or ("",)
        if family.name == "post":
            found.posts.add(int(slots[0]))
        elif family.name == "user":
            found.users.add(int(slots[0]))
        elif family.name == "image":
            found.images.add(slots[0])
    return found


def _read_each(
    r: redis.Redis, items: list, batch_size: int, read: Callable[[Pipeline, Any], None]
) -> Iterator[tuple[Any, list]]:
    """(item, its replies) for every item; `read(pipe, item)` queues the same number of
    commands for each item; one round trip per batch."""
    for batch in batches(items, batch_size):
        pipe = r.pipeline(transaction=False)
        for item in batch:
            read(pipe, item)
        replies = pipe.execute()
        per_item = len(replies) // len(batch)
        for i, item in enumerate(batch):
            yield item, replies[i * per_item : (i + 1) * per_item]


def _index_posts(
    r: redis.Redis, keys: Keys, post_ids: list[int], out: _Indexes, batch_size: int
) -> None:
    def read(pipe: Pipeline, post_id: int) -> None:
        pipe.hmget(keys.post(post_id), "author_id", "status", "published_at", "updated_at")
        pipe.smembers(keys.post_tags(post_id))
        pipe.smembers(keys.post_slugs(post_id))
        pipe.zrange(keys.post_pending(post_id), 0, -1, withscores=True)

    for post_id, (fields, tags, slugs, pending) in _read_each(r, post_ids, batch_size, read):
        _index_post(str(post_id), fields, tags, slugs, pending, out)


def _index_post(
    member: str, fields: list, tags: set, slugs: set, pending: list, out: _Indexes
) -> None:
    author_id, status, published_at, updated_at = fields
    if author_id is None:
        return  # deleted meanwhile
    out.user_posts[author_id][member] = float(updated_at)
    if status != "draft":
        out.published[member] = float(published_at)
        for tag in tags:
            out.tags[tag][member] = float(published_at)
    for slug in slugs:
        out.slugs[slug] = member
    for comment_id, score in pending:
        out.user_pending[author_id][comment_id] = score


def _index_authors(
    r: redis.Redis, keys: Keys, user_ids: list[int], out: _Indexes, batch_size: int
) -> None:
    def read(pipe: Pipeline, user_id: int) -> None:
        pipe.hget(keys.user(user_id), "username")

    for user_id, (username,) in _read_each(r, user_ids, batch_size, read):
        if username is not None:
            out.usernames[username] = str(user_id)


def _index_images(
    r: redis.Redis, keys: Keys, image_ids: list[str], out: _Indexes, batch_size: int
) -> None:
    def read(pipe: Pipeline, image_id: str) -> None:
        pipe.hmget(keys.image(image_id), "owner_id", "created_at")

    for image_id, ((owner_id, created_at),) in _read_each(r, image_ids, batch_size, read):
        if owner_id is not None:
            out.user_images[owner_id][image_id] = float(created_at)


def _index_image_use(
    r: redis.Redis, keys: Keys, post_ids: list[int], out: _Indexes, batch_size: int
) -> None:
    """Which uploaded images each post's body shows; the uploaded images none shows."""
    uploaded = {i: at for scores in out.user_images.values() for i, at in scores.items()}

    def read(pipe: Pipeline, post_id: int) -> None:
        pipe.hget(keys.post(post_id), "body")

    for post_id, (body,) in _read_each(r, post_ids, batch_size, read):
        shown = set(MEDIA_ID.findall(body or "")) & uploaded.keys()
        if shown:
            out.post_images[str(post_id)] = shown
        for image_id in shown:
            out.image_posts[image_id].add(str(post_id))
    out.unused_images = {i: at for i, at in uploaded.items() if i not in out.image_posts}


def _replace(r: redis.Redis, keys: Keys, old: set[str], new: _Indexes) -> None:
    """Old derived keys out, new ones in: one MULTI/EXEC."""
    with r.pipeline(transaction=True) as pipe:
        if old:
            pipe.delete(*old)
        _add_sorted_sets(pipe, {keys.published: new.published})
        _add_sorted_sets(pipe, {keys.tag(t): m for t, m in new.tags.items()})
        if new.tags:
            pipe.sadd(keys.tags, *new.tags)
        if new.slugs:
            pipe.hset(keys.slugs, mapping=new.slugs)
        if new.usernames:
            pipe.hset(keys.usernames, mapping=new.usernames)
        _add_sorted_sets(pipe, {keys.user_posts(int(a)): m for a, m in new.user_posts.items()})
        _add_sorted_sets(
            pipe, {keys.author_pending(int(a)): m for a, m in new.user_pending.items()}
        )
        _add_sorted_sets(pipe, {keys.user_images(int(o)): m for o, m in new.user_images.items()})
        _add_image_use(pipe, keys, new)
        pipe.execute()


def _add_image_use(pipe: Pipeline, keys: Keys, new: _Indexes) -> None:
    for post_id, shown in new.post_images.items():
        pipe.sadd(keys.post_images(int(post_id)), *shown)
    for image_id, post_ids in new.image_posts.items():
        pipe.sadd(keys.image_posts(image_id), *post_ids)
    # images:unused is an entity (restored as it was); only what it lacks is added.
    for batch in batches(sorted(new.unused_images), 1000):
        pipe.zadd(keys.unused_images, {i: new.unused_images[i] for i in batch}, nx=True)


def _add_sorted_sets(pipe: Pipeline, indexes: dict[str, Scores], per_command: int = 1000) -> None:
    """ZADD each index, `per_command` members at a time (bounded command size)."""
    for key, members in indexes.items():
        for batch in batches(list(members.items()), per_command):
            pipe.zadd(key, dict(batch))
