"""Consistency rules over the blog's Redis keys, checked by reading Redis directly.

`problems(r)` lists every broken rule (an empty list means consistent); `snapshot(r)`
is a comparable picture of the data without timestamps or id counters, so a test can say
"this state is exactly the one before the write, or exactly the one after it".
The key schema is blog/data/keys.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from blog.data.cards import CARD_LUA
from blog.data.keys import Keys

POST_FIELDS = {
    "id",
    "slug",
    "title",
    "body",
    "html",
    "excerpt",
    "author_id",
    "author",
    "status",
    "published_at",
    "created_at",
    "updated_at",
}
COMMENT_FIELDS = {"id", "post_id", "name", "body", "created_at", "status"}
POST_SUBKEYS = {"tags", "comments", "pending", "slugs", "card"}
# The card a post's hash and tags make now (blog/data/cards.py), built by Redis itself.
CARD_NOW = CARD_LUA + "return card_of(KEYS[1], KEYS[2])"
TIMESTAMP_FIELDS = {"created_at", "updated_at", "published_at"}


def _scan(r: redis.Redis, prefix: str) -> list[str]:
    return sorted(r.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000))


@dataclass
class _Ids:
    """The ids found by scanning the keys: posts, owners of post:N:* keys, comments, tags."""

    posts: set[int] = field(default_factory=set)
    sub_owners: set[int] = field(default_factory=set)
    comments: set[int] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)


@dataclass
class _PostIndexes:
    """The post hashes and every index over them, read once."""

    posts: dict[int, dict[str, str]]
    post_tags: dict[int, set[str]]
    slugs: dict[str, str]
    published: dict[str, float]
    tag_sets: dict[str, dict[str, float]]
    tag_index: set[str]


def _scan_ids(r: redis.Redis, prefix: str) -> _Ids:
    ids = _Ids()
    for key in _scan(r, prefix):
        parts = key[len(prefix) :].split(":")
        if parts[0] == "post" and len(parts) == 2:
            ids.posts.add(int(parts[1]))
        elif parts[0] == "post" and len(parts) == 3 and parts[2] in POST_SUBKEYS:
            ids.sub_owners.add(int(parts[1]))
        elif parts[0] == "comment" and len(parts) == 2:
            ids.comments.add(int(parts[1]))
        elif parts[0] == "tag":
            ids.tags.add(":".join(parts[1:]))
    return ids


def _read_post_indexes(r: redis.Redis, k: Keys, ids: _Ids) -> _PostIndexes:
    return _PostIndexes(
        posts={pid: r.hgetall(k.post(pid)) for pid in ids.posts},
        post_tags={pid: r.smembers(k.post_tags(pid)) for pid in ids.posts},
        slugs=r.hgetall(k.slugs),
        published=dict(r.zrange(k.published, 0, -1, withscores=True)),
        tag_sets={t: dict(r.zrange(k.tag(t), 0, -1, withscores=True)) for t in ids.tags},
        tag_index=r.smembers(k.tags),
    )


def _leftover_subkeys(ids: _Ids) -> list[str]:
    return [
        f"post {pid} is gone but some of its post:{pid}:* keys remain"
        for pid in sorted(ids.sub_owners - ids.posts)
    ]


def _post_identity_problems(
    r: redis.Redis, k: Keys, pid: int, h: dict[str, str], idx: _PostIndexes
) -> list[str]:
    """Its id, its slugs both ways, its place in its author's list."""
    found = []
    if int(h["id"]) != pid:
        found.append(f"post {pid} says its id is {h['id']}")
    if idx.slugs.get(h["slug"]) != str(pid):
        found.append(f"post {pid}'s slug {h['slug']!r} does not resolve to it")
    own = {s for s, owner in idx.slugs.items() if owner == str(pid)}
    if r.smembers(k.post_slugs(pid)) != own:
        found.append(f"post {pid}'s slug set differs from the slugs pointing at it")
    if str(pid) not in r.zrange(k.user_posts(int(h["author_id"])), 0, -1):
        found.append(f"post {pid} is missing from its author's list")
    return found


def _visible_post_problems(
    pid: int, h: dict[str, str], in_tags: set[str], idx: _PostIndexes
) -> list[str]:
    """A published or scheduled post: in posts:published and its tag indexes, by date."""
    found = []
    if str(pid) not in idx.published:
        found.append(f"{h['status']} post {pid} is not in posts:published")
    elif idx.published[str(pid)] != float(h["published_at"]):
        found.append(f"post {pid}'s score in posts:published is not its date")
    if in_tags != idx.post_tags[pid]:
        found.append(
            f"post {pid} has tags {sorted(idx.post_tags[pid])} but is in the "
            f"tag indexes {sorted(in_tags)}"
        )
    for t in in_tags:
        if idx.tag_sets[t][str(pid)] != float(h["published_at"]):
            found.append(f"post {pid}'s score in tag {t!r} is not its date")
    return found


def _card_problems(r: redis.Redis, k: Keys, pid: int) -> list[str]:
    """Its listing card is there and says what its hash and tags say."""
    stored = r.get(k.post_card(pid))
    if stored is None:
        return [f"post {pid} has no listing card"]
    if stored != r.eval(CARD_NOW, 2, k.post(pid), k.post_tags(pid)):
        return [f"post {pid}'s listing card is out of step with its hash or tags"]
    return []


def _draft_problems(pid: int, in_tags: set[str], idx: _PostIndexes) -> list[str]:
    """A draft is in no public index."""
    found = []
    if str(pid) in idx.published:
        found.append(f"draft {pid} is in posts:published")
    if in_tags:
        found.append(f"draft {pid} is in the tag indexes {sorted(in_tags)}")
    return found


def _post_problems(r: redis.Redis, k: Keys, idx: _PostIndexes) -> list[str]:
    found: list[str] = []
    for pid, h in idx.posts.items():
        missing = POST_FIELDS - set(h)
        if missing:
            found.append(f"post {pid} lacks fields {sorted(missing)}")
            continue
        found += _post_identity_problems(r, k, pid, h, idx)
        found += _card_problems(r, k, pid)
        in_tags = {t for t, members in idx.tag_sets.items() if str(pid) in members}
        if h["status"] != "draft":
            found += _visible_post_problems(pid, h, in_tags, idx)
        else:
            found += _draft_problems(pid, in_tags, idx)
    return found


def _dangling_index_problems(ids: _Ids, idx: _PostIndexes) -> list[str]:
    """Slugs and posts:published pointing at posts that are gone."""
    found = [
        f"slug {slug!r} points at missing post {owner}"
        for slug, owner in idx.slugs.items()
        if int(owner) not in ids.posts
    ]
    found += [
        f"posts:published holds missing post {member}"
        for member in idx.published
        if int(member) not in ids.posts
    ]
    return found


def _tag_problems(ids: _Ids, idx: _PostIndexes) -> list[str]:
    """Each tag index holds only existing posts that have the tag, and matches the tags set."""
    found = []
    for t, members in idx.tag_sets.items():
        for member in members:
            if int(member) not in ids.posts:
                found.append(f"tag {t!r} holds missing post {member}")
            elif t not in idx.post_tags[int(member)]:
                found.append(f"tag {t!r} holds post {member}, which does not have the tag")
        if t not in idx.tag_index:
            found.append(f"tag {t!r} has posts but is not in the tags set")
    for t in idx.tag_index:
        if not idx.tag_sets.get(t):
            found.append(f"tag {t!r} is in the tags set but its index is empty")
    return found


def _comment_listings(
    r: redis.Redis, k: Keys, ids: _Ids, found: list[str]
) -> dict[int, tuple[int, str]]:
    """comment id -> (post id, "approved" or "pending") from the posts' comment lists;
    a comment listed twice goes into `found`."""
    listed: dict[int, tuple[int, str]] = {}
    for pid in ids.posts | ids.sub_owners:
        for status, key in (("approved", k.post_comments(pid)), ("pending", k.post_pending(pid))):
            for cid in r.zrange(key, 0, -1):
                if int(cid) in listed:
                    found.append(f"comment {cid} is listed twice")
                listed[int(cid)] = (pid, status)
    return listed


def _comment_hash_problems(
    r: redis.Redis,
    k: Keys,
    ids: _Ids,
    idx: _PostIndexes,
    listed: dict[int, tuple[int, str]],
    pending_by_author: dict[int, set[int]],
) -> list[str]:
    """Each comment belongs to an existing post and is listed there under its status;
    the pending ones are collected by the author who moderates them."""
    found = []
    for cid in sorted(ids.comments):
        h = r.hgetall(k.comment(cid))
        missing = COMMENT_FIELDS - set(h)
        if missing:
            found.append(f"comment {cid} lacks fields {sorted(missing)}")
            continue
        pid = int(h["post_id"])
        if pid not in ids.posts:
            found.append(f"comment {cid} is an orphan: post {pid} is gone")
        elif listed.get(cid) != (pid, h["status"]):
            found.append(f"comment {cid} ({h['status']}) is not listed as such on post {pid}")
        elif h["status"] == "pending":
            author = int(idx.posts[pid].get("author_id", 0))
            pending_by_author.setdefault(author, set()).add(cid)
    return found


def _user_list_problems(
    r: redis.Redis, prefix: str, idx: _PostIndexes, pending_by_author: dict[int, set[int]]
) -> list[str]:
    """Each author's moderation queue and post list hold exactly what is theirs."""
    found = []
    for key in _scan(r, prefix + "user:"):
        parts = key[len(prefix) :].split(":")
        if len(parts) == 3 and parts[2] == "pending":
            uid = int(parts[1])
            held = {int(c) for c in r.zrange(key, 0, -1)}
            if held != pending_by_author.get(uid, set()):
                found.append(
                    f"author {uid}'s moderation queue {sorted(held)} should be "
                    f"{sorted(pending_by_author.get(uid, set()))}"
                )
        elif len(parts) == 3 and parts[2] == "posts":
            for member in r.zrange(key, 0, -1):
                post = idx.posts.get(int(member))
                if post is None or post.get("author_id") != parts[1]:
                    found.append(
                        f"author {parts[1]}'s post list holds post {member}, "
                        "which is missing or not theirs"
                    )
    return found


def _missing_queue_problems(
    r: redis.Redis, prefix: str, pending_by_author: dict[int, set[int]]
) -> list[str]:
    queues = {
        int(key[len(prefix) :].split(":")[1])
        for key in _scan(r, prefix + "user:")
        if key.endswith(":pending")
    }
    return [
        f"author {uid} has pending comments but no moderation queue"
        for uid in set(pending_by_author) - queues
    ]


def _comment_problems(
    r: redis.Redis, k: Keys, prefix: str, ids: _Ids, idx: _PostIndexes
) -> list[str]:
    """Comments: each in exactly one of its post's lists, matching its status."""
    found: list[str] = []
    listed = _comment_listings(r, k, ids, found)
    found += [
        f"post {listed[cid][0]} lists missing comment {cid}"
        for cid in sorted(set(listed) - ids.comments)
    ]
    pending_by_author: dict[int, set[int]] = {}
    found += _comment_hash_problems(r, k, ids, idx, listed, pending_by_author)
    found += _user_list_problems(r, prefix, idx, pending_by_author)
    found += _missing_queue_problems(r, prefix, pending_by_author)
    return found


def _username_problems(r: redis.Redis, k: Keys) -> list[str]:
    return [
        f"username {name!r} points at user {uid}, which is not them"
        for name, uid in r.hgetall(k.usernames).items()
        if r.hget(k.user(int(uid)), "username") != name
    ]


def problems(r: redis.Redis, prefix: str = "blog:") -> list[str]:
    """Every rule the stored data breaks, as readable sentences."""
    k = Keys(prefix)
    ids = _scan_ids(r, prefix)
    idx = _read_post_indexes(r, k, ids)
    return [
        *_leftover_subkeys(ids),
        *_post_problems(r, k, idx),
        *_dangling_index_problems(ids, idx),
        *_tag_problems(ids, idx),
        *_comment_problems(r, k, prefix, ids, idx),
        *_username_problems(r, k),
    ]


def assert_consistent(r: redis.Redis, prefix: str = "blog:") -> None:
    found = problems(r, prefix)
    assert not found, "inconsistent Redis data:\n  " + "\n  ".join(found)


def snapshot(r: redis.Redis, prefix: str = "blog:") -> dict:
    """All keys and values under the prefix, minus id counters, rate limits, timestamps
    and sorted-set scores (timestamps): equal snapshots mean the same content."""
    out: dict = {}
    for key in _scan(r, prefix):
        rest = key[len(prefix) :]
        if rest.startswith(("ids:", "rate:")):
            continue
        kind = r.type(key)
        if kind == "hash":
            value = {
                f: ("<ts>" if f in TIMESTAMP_FIELDS and v not in ("0", "0.0") else v)
                for f, v in r.hgetall(key).items()
            }
        elif kind == "set":
            value = sorted(r.smembers(key))
        elif kind == "zset":
            value = sorted(r.zrange(key, 0, -1))
        elif kind == "string":
            value = r.get(key)
        else:
            value = kind
        out[key] = value
    return out
