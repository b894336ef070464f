"""Listing cards (blog/data/cards.py): the home and tag pages read one string per post,
kept in step with the post by every writer, rebuilt after a restore, and not needed for
a post saved before cards existed."""

from __future__ import annotations

import json

import pytest

from blog.data import PostInput
from blog.data.reindex import reindex
from tests.helpers import add_post

# What a title or tag may hold that JSON must carry through: quotes, backslashes, a
# slash (Redis's cjson writes "\/"), control characters, emoji, right-to-left text.
AWKWARD = 'He said "hi" \\ back/slash \x01\t😀 שלום'


@pytest.fixture
def alice(auth):
    return auth.create("alice")


def summaries(data, post_ids):
    """The posts as the hash and tag set say, in listing form (no body, no HTML)."""
    by_id = {p.id: p for p in data.posts.by_author(1)}
    return [by_id[i] for i in post_ids]


def card(data, post_id):
    return data.redis.get(data.keys.post_card(post_id))


def listed(data, tag=None):
    return data.posts.page(1, 10, tag=tag).items


def test_a_saved_post_lists_from_its_card(data, alice):
    post = add_post(data, alice, AWKWARD, body="Some *text*", tags=["b-tag", "a-tag", AWKWARD])
    data.comments.add(post.id, alice.id, "Reader", "Nice", moderated=False)
    assert json.loads(card(data, post.id))[2] == AWKWARD
    (shown,) = listed(data)
    assert shown == summaries(data, [post.id])[0]
    assert shown.title == AWKWARD and shown.tags == sorted(["b-tag", "a-tag", AWKWARD])
    assert shown.comment_count == 1 and shown.excerpt == "Some text" and shown.body == ""


def test_the_card_follows_every_edit_of_what_listings_show(data, alice):
    post = add_post(data, alice, "First", body="One", tags=["old", "kept"])
    before = card(data, post.id)
    edited = data.posts.update(post, PostInput("Second", "Two words", ["kept", "new"], "published"))
    assert card(data, post.id) != before
    assert listed(data) == summaries(data, [post.id])
    assert (listed(data)[0].title, listed(data)[0].tags) == ("Second", ["kept", "new"])
    assert listed(data, tag="new") == listed(data) and listed(data, tag="old") == []
    data.posts.update(edited, PostInput("Second", "Two words", ["kept", "new"], "draft"))
    assert json.loads(card(data, post.id))[6] == "draft"  # drafts keep a card, unlisted
    assert listed(data) == []


def test_an_autosaved_revision_leaves_the_card_as_published(data, alice):
    post = add_post(data, alice, "Live", body="Published text", tags=["t"])
    before = card(data, post.id)
    revision = PostInput("Draft title", "New", ["u"], "published")
    data.posts.save_revision(post, revision, post.updated_at)
    assert card(data, post.id) == before and listed(data)[0].title == "Live"


def test_deleting_a_post_deletes_its_card(data, alice):
    post = add_post(data, alice, "Doomed", tags=["t"])
    other = add_post(data, alice, "Stays", tags=["t"])
    data.posts.delete(post)
    assert card(data, post.id) is None
    assert [p.id for p in listed(data)] == [other.id]


def test_rerender_writes_the_card_with_the_new_summary(data, alice, runner):
    post = add_post(data, alice, "Old", body="Old words")
    # A body changed behind the renderer's back (as an upgrade's re-render finds it).
    data.redis.hset(data.keys.post(post.id), "body", "Brand *new* words here")
    data.redis.script_flush()  # the card script, run inside MULTI, is loaded before it
    assert runner.invoke(args=["posts", "rerender"]).exit_code == 0
    assert listed(data)[0].excerpt == "Brand new words here"
    assert listed(data) == summaries(data, [post.id])


def test_posts_saved_before_cards_list_the_same_and_the_command_writes_cards(data, alice, runner):
    posts = [add_post(data, alice, f"Post {i}", tags=["common", f"t{i}"]) for i in range(12)]
    cover = {"id": "Ab3_-x", "ext": "jpg", "alt": 'A "boat"', "variants": {"thumb": [400, 300]}}
    data.redis.hset(data.keys.post(posts[-1].id), "cover", json.dumps(cover))
    data.redis.hdel(data.keys.post(posts[-2].id), "reading_minutes")  # an older post
    for post in posts:
        data.redis.delete(data.keys.post_card(post.id))
    newest_first = [p.id for p in reversed(posts)]
    first, second = data.posts.page(1, 10), data.posts.page(2, 10, tag="common")
    assert first.items == summaries(data, newest_first[:10]) and first.has_next
    assert second.items == summaries(data, newest_first[10:]) and not second.has_next
    assert first.items[0].cover.pick("thumb") == ("thumb.jpg", 400, 300)
    assert first.items[1].reading_minutes == 0
    assert all(card(data, p.id) is None for p in posts)  # a listing writes nothing
    result = runner.invoke(args=["posts", "cards"])
    assert result.exit_code == 0 and "Wrote the listing cards of 12 posts." in result.output
    assert all(card(data, p.id) for p in posts)
    assert data.posts.page(1, 10) == first


def test_reindex_rebuilds_missing_and_stale_cards(data, alice, redis_client):
    kept = add_post(data, alice, "Kept", tags=["a"])
    lost = add_post(data, alice, "Lost", tags=["b"])
    stale = add_post(data, alice, "Stale", tags=["c"])
    expected = {p.id: card(data, p.id) for p in (kept, lost, stale)}
    redis_client.delete(data.keys.post_card(lost.id))
    redis_client.set(data.keys.post_card(stale.id), json.dumps(["stale"]))
    redis_client.set(data.keys.post_card(999), json.dumps(["orphan"]))  # its post is gone
    assert reindex(redis_client, data.keys)["cards"] == 3
    assert {p.id: card(data, p.id) for p in (kept, lost, stale)} == expected
    assert card(data, 999) is None


def test_a_page_fetches_one_post_past_the_page_only_to_know_there_is_a_next(data, alice):
    posts = [add_post(data, alice, f"Post {i}") for i in range(11)]
    assert data.posts.page(1, 11).has_next is False
    assert data.posts.page(1, 10).has_next is True
    assert [p.id for p in data.posts.page(2, 10).items] == [posts[0].id]
    assert data.posts.page(3, 10).items == []
