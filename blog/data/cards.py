"""A post's listing card (`post:<id>:card`): what the home and tag pages show of a post,
in one string, so a listing page reads one value per post instead of the hash's summary
fields and the tag set.

A card is derived: built inside Redis from the post hash and `post:<id>:tags` by one
Lua function (`CARD_LUA`; a save gives it the values it has just written), written by
every writer of those keys in the same script or transaction (`SAVE_SCRIPT`,
`PostStore.rerender`), deleted with the post (`DELETE_SCRIPT`), rebuilt after a restore
(`reindex()` calls `write_cards`). A post without a card (saved before cards existed, or
between a restore's index swap and its card pass) still lists: the listing script builds
the card on the fly without storing it (`flask posts cards` writes the missing ones).
Backups leave cards out.

The card is a JSON array: the `CARD_FIELDS` of the hash as strings (the hash's own
values, so floats keep every digit), then the cover as a JSON object (or null) and the
tag names (sorted by Redis's collation, so the card of a post does not depend on the
set's order; `post_from_card` sorts them as Python does, like `Post.from_hash`):
`["7","a-post","A post",...,"3",{"id":...},["redis","tips"]]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from .keys import Keys
from .models import Cover, Post
from .scripts import Script

# Hash fields a listing shows of a post, and those the Post it builds needs (id, author,
# dates, status: Post.is_visible and the templates' links), in card order; `cover` last.
CARD_FIELDS = (
    "id",
    "slug",
    "title",
    "excerpt",
    "author_id",
    "author",
    "status",
    "published_at",
    "created_at",
    "updated_at",
    "reading_minutes",
    "cover",
)

# card_from(values, names): the card of a post from its CARD_FIELDS values (false where the
# hash lacks one: reading_minutes of an old post, written "") and its tag names.
# card_of(post key, tags key): the same from the keys, false if there is no post. The
# cover field holds JSON made by PostStore._save (json.dumps) or "": put in as it is, not
# decoded and encoded again. Two cjson calls in all: one per field cost a listing of
# posts without cards 20 µs more.
CARD_LUA = (
    "local CARD_FIELDS = {"
    + ", ".join(f"'{name}'" for name in CARD_FIELDS)
    + """}
local function card_from(values, names)
  local fields, tags = {}, {}
  for i = 1, #CARD_FIELDS - 1 do fields[i] = values[i] or '' end
  local cover = values[#CARD_FIELDS]
  if not cover or cover == '' then cover = 'null' end
  for i, name in ipairs(names) do tags[i] = name end
  table.sort(tags)  -- SMEMBERS' order varies: the same post, the same card
  -- (cjson writes an empty table as {})
  local tag_list = #tags > 0 and cjson.encode(tags) or '[]'
  return string.sub(cjson.encode(fields), 1, -2) .. ',' .. cover .. ',' .. tag_list .. ']'
end
local function card_of(post, tags)
  local values = redis.call('HMGET', post, unpack(CARD_FIELDS))
  if not values[1] then return false end
  return card_from(values, redis.call('SMEMBERS', tags))
end
"""
)

# Writes (or, the post gone, deletes) one post's card. KEYS: post:<id>, :tags, :card.
CARD_SCRIPT = (
    CARD_LUA
    + """
local card = card_of(KEYS[1], KEYS[2])
if card then redis.call('SET', KEYS[3], card) else redis.call('DEL', KEYS[3]) end
return card and 1 or 0
"""
)


def post_from_card(card: list, comments: int) -> Post:
    """The Post a listing shows (no body, no HTML) from its card, decoded, and its
    comment count."""
    (
        post_id,
        slug,
        title,
        excerpt,
        author_id,
        author,
        status,
        published_at,
        created_at,
        updated_at,
        minutes,
        cover,
        tags,
    ) = card
    return Post.from_fields(
        {
            "id": int(post_id),
            "slug": slug,
            "title": title,
            "body": "",
            "html": "",
            "excerpt": excerpt,
            "author_id": int(author_id),
            "author": author,
            "status": status,
            "published_at": float(published_at),
            "created_at": float(created_at),
            "updated_at": float(updated_at),
            "tags": sorted(tags),
            "comment_count": comments,
            "cover": Cover(**cover) if cover else None,
            "reading_minutes": int(minutes or 0),
        }
    )


def card_keys(keys: Keys, post_id: int) -> list[str]:
    """CARD_SCRIPT's KEYS for one post."""
    return [keys.post(post_id), keys.post_tags(post_id), keys.post_card(post_id)]


def write_cards(r: redis.Redis, keys: Keys, post_ids: Sequence[int], batch_size: int = 500) -> int:
    """(Re)write the card of each post (CARD_SCRIPT, `batch_size` posts a round trip);
    returns how many posts had one written (the others are gone)."""
    script, written = Script(r, CARD_SCRIPT), 0
    for start in range(0, len(post_ids), batch_size):
        pipe = r.pipeline(transaction=False)
        for post_id in post_ids[start : start + batch_size]:
            script(keys=card_keys(keys, post_id), client=pipe)
        written += sum(pipe.execute())
    return written


def missing_cards(
    r: redis.Redis, keys: Keys, post_ids: Sequence[int], batch_size: int = 1000
) -> list[int]:
    """The posts among `post_ids` that exist but have no card (saved before cards
    existed): two EXISTS a post, `batch_size` posts a round trip."""
    missing: list[int] = []
    for start in range(0, len(post_ids), batch_size):
        batch = post_ids[start : start + batch_size]
        pipe = r.pipeline(transaction=False)
        for post_id in batch:
            pipe.exists(keys.post(post_id))
            pipe.exists(keys.post_card(post_id))
        replies = pipe.execute()
        missing += [
            i
            for i, post, card in zip(batch, replies[::2], replies[1::2], strict=True)
            if post and not card
        ]
    return missing
