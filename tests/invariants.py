"""Consistency rules over the blog's Redis keys, checked by reading Redis directly.

`problems(r)` lists every broken rule (an empty list means consistent); `snapshot(r)`
is a comparable picture of the data without timestamps or id counters, so a test can say
"this state is exactly the one before the write, or exactly the one after it".
The key schema is blog/data/keys.py.
"""

from __future__ import annotations

import redis

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
POST_SUBKEYS = {"tags", "comments", "pending", "slugs"}
TIMESTAMP_FIELDS = {"created_at", "updated_at", "published_at"}


def _scan(r: redis.Redis, prefix: str) -> list[str]:
    return sorted(r.scan_iter(match=prefix.replace("*", r"\*") + "*", count=1000))


def problems(r: redis.Redis, prefix: str = "blog:") -> list[str]:
    """Every rule the stored data breaks, as readable sentences."""
    k = Keys(prefix)
    found: list[str] = []
    post_ids: set[int] = set()
    sub_owners: set[int] = set()
    comment_ids: set[int] = set()
    tag_keys: set[str] = set()
    for key in _scan(r, prefix):
        parts = key[len(prefix) :].split(":")
        if parts[0] == "post" and len(parts) == 2:
            post_ids.add(int(parts[1]))
        elif parts[0] == "post" and len(parts) == 3 and parts[2] in POST_SUBKEYS:
            sub_owners.add(int(parts[1]))
        elif parts[0] == "comment" and len(parts) == 2:
            comment_ids.add(int(parts[1]))
        elif parts[0] == "tag":
            tag_keys.add(":".join(parts[1:]))

    posts = {pid: r.hgetall(k.post(pid)) for pid in post_ids}
    post_tags = {pid: r.smembers(k.post_tags(pid)) for pid in post_ids}
    slugs = r.hgetall(k.slugs)
    published = dict(r.zrange(k.published, 0, -1, withscores=True))
    tag_sets = {t: dict(r.zrange(k.tag(t), 0, -1, withscores=True)) for t in tag_keys}
    tag_index = r.smembers(k.tags)

    for pid in sorted(sub_owners - post_ids):
        found.append(f"post {pid} is gone but some of its post:{pid}:* keys remain")

    for pid, h in posts.items():
        missing = POST_FIELDS - set(h)
        if missing:
            found.append(f"post {pid} lacks fields {sorted(missing)}")
            continue
        if int(h["id"]) != pid:
            found.append(f"post {pid} says its id is {h['id']}")
        if slugs.get(h["slug"]) != str(pid):
            found.append(f"post {pid}'s slug {h['slug']!r} does not resolve to it")
        own = {s for s, owner in slugs.items() if owner == str(pid)}
        if r.smembers(k.post_slugs(pid)) != own:
            found.append(f"post {pid}'s slug set differs from the slugs pointing at it")
        if str(pid) not in r.zrange(k.user_posts(int(h["author_id"])), 0, -1):
            found.append(f"post {pid} is missing from its author's list")
        visible = h["status"] != "draft"
        in_tags = {t for t, members in tag_sets.items() if str(pid) in members}
        if visible:
            if str(pid) not in published:
                found.append(f"{h['status']} post {pid} is not in posts:published")
            elif published[str(pid)] != float(h["published_at"]):
                found.append(f"post {pid}'s score in posts:published is not its date")
            if in_tags != post_tags[pid]:
                found.append(
                    f"post {pid} has tags {sorted(post_tags[pid])} but is in the "
                    f"tag indexes {sorted(in_tags)}"
                )
            for t in in_tags:
                if tag_sets[t][str(pid)] != float(h["published_at"]):
                    found.append(f"post {pid}'s score in tag {t!r} is not its date")
        else:
            if str(pid) in published:
                found.append(f"draft {pid} is in posts:published")
            if in_tags:
                found.append(f"draft {pid} is in the tag indexes {sorted(in_tags)}")

    for slug, owner in slugs.items():
        if int(owner) not in post_ids:
            found.append(f"slug {slug!r} points at missing post {owner}")
    for member in published:
        if int(member) not in post_ids:
            found.append(f"posts:published holds missing post {member}")
    for t, members in tag_sets.items():
        for member in members:
            if int(member) not in post_ids:
                found.append(f"tag {t!r} holds missing post {member}")
            elif t not in post_tags[int(member)]:
                found.append(f"tag {t!r} holds post {member}, which does not have the tag")
        if t not in tag_index:
            found.append(f"tag {t!r} has posts but is not in the tags set")
    for t in tag_index:
        if not tag_sets.get(t):
            found.append(f"tag {t!r} is in the tags set but its index is empty")

    # Comments: each in exactly one of its post's lists, matching its status.
    listed: dict[int, tuple[int, str]] = {}
    for pid in post_ids | sub_owners:
        for status, key in (("approved", k.post_comments(pid)), ("pending", k.post_pending(pid))):
            for cid in r.zrange(key, 0, -1):
                if int(cid) in listed:
                    found.append(f"comment {cid} is listed twice")
                listed[int(cid)] = (pid, status)
    for cid in sorted(set(listed) - comment_ids):
        found.append(f"post {listed[cid][0]} lists missing comment {cid}")
    pending_by_author: dict[int, set[int]] = {}
    for cid in sorted(comment_ids):
        h = r.hgetall(k.comment(cid))
        missing = COMMENT_FIELDS - set(h)
        if missing:
            found.append(f"comment {cid} lacks fields {sorted(missing)}")
            continue
        pid = int(h["post_id"])
        if pid not in post_ids:
            found.append(f"comment {cid} is an orphan: post {pid} is gone")
        elif listed.get(cid) != (pid, h["status"]):
            found.append(f"comment {cid} ({h['status']}) is not listed as such on post {pid}")
        elif h["status"] == "pending":
            author = int(posts[pid].get("author_id", 0))
            pending_by_author.setdefault(author, set()).add(cid)
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
                post = posts.get(int(member))
                if post is None or post.get("author_id") != parts[1]:
                    found.append(
                        f"author {parts[1]}'s post list holds post {member}, "
                        "which is missing or not theirs"
                    )
    for uid in set(pending_by_author) - {
        int(key[len(prefix) :].split(":")[1])
        for key in _scan(r, prefix + "user:")
        if key.endswith(":pending")
    }:
        found.append(f"author {uid} has pending comments but no moderation queue")

    for name, uid in r.hgetall(k.usernames).items():
        if r.hget(k.user(int(uid)), "username") != name:
            found.append(f"username {name!r} points at user {uid}, which is not them")
    return found


def assert_consistent(r: redis.Redis, prefix: str = "blog:") -> None:
    found = problems(r, prefix)
    assert not found, "inconsistent Redis data:\n  " + "\n  ".join(found)


def snapshot(r: redis.Redis, prefix: str = "blog:") -> dict:
    """All keys and values under the prefix, minus id counters, rate limits, create
    tokens, timestamps and sorted-set scores (timestamps): equal snapshots mean the same
    content."""
    out: dict = {}
    for key in _scan(r, prefix):
        rest = key[len(prefix) :]
        if rest.startswith(("ids:", "rate:", "create:")):
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
