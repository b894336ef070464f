"""A post's save is one Lua script (SAVE_SCRIPT in blog/data/posts.py): what it returns
is what a read returns, its errors are the store's exceptions, and it copes with saves
a WATCHed transaction would have retried."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from blog.data import AlreadyImported, ImageVariant, ImportedPost, PostChanged, PostGone, PostInput
from tests.helpers import add_post


def fake_image(data, owner_id: int) -> str:
    record = data.images.create(owner_id, "PNG", "png", "image/png", 10, "x.png")
    data.images.mark_ready(record.id, 32, 24, [], [ImageVariant("original", 32, 24, 10)])
    return record.id


def shows(image_ids) -> str:
    return "\n".join(f"![alt {i}](/media/{i}/original.png)" for i in image_ids)


def test_the_saved_post_is_the_one_a_read_returns(data, auth):
    author = auth.create()
    image = fake_image(data, author.id)
    created = add_post(
        data, author, "Grüße aus Köln", body=f"Hi *there*\n\n{shows([image])}", tags=["b", "a"]
    )
    assert created == data.posts.get(created.id)
    assert created.cover is not None and created.cover.id == image
    data.comments.add(created.id, author.id, "Ann", "Nice", moderated=False)
    edited = data.posts.update(
        data.posts.get(created.id), PostInput("Grüße aus Köln!", "Plain", ["c", "a", "c"], "draft")
    )
    assert edited == data.posts.get(created.id)
    assert (edited.slug, edited.tags, edited.comment_count) == (created.slug, ["a", "c"], 1)
    assert edited.created_at == created.created_at and edited.published_at == 0.0
    scheduled = data.posts.update(
        edited, PostInput("Later", "Soon", [], "scheduled", publish_at=time.time() + 3600)
    )
    assert scheduled == data.posts.get(created.id) and scheduled.slug == "later"


def test_an_import_is_claimed_once_and_kept_with_the_post(data, auth):
    author = auth.create()
    origin = ImportedPost("post:https://old.example/?p=7", 1_500_000_000.0, "Old Name", "old-slug")
    post = data.posts.create(
        author.id, author.username, PostInput("Imported", "Body", ["x"], "published"), origin
    )
    assert post == data.posts.get(post.id)
    assert (post.slug, post.published_at) == ("old-slug", 1_500_000_000.0)
    stored = data.redis.hmget(data.keys.post(post.id), "origin", "original_author")
    assert stored == [origin.origin, "Old Name"]
    with pytest.raises(AlreadyImported) as found:
        data.posts.create(
            author.id, author.username, PostInput("Again", "Body", [], "published"), origin
        )
    assert found.value.existing_id == str(post.id)
    assert data.imports.known(origin.origin) == str(post.id)
    data.posts.delete(post)  # what it became is gone: the origin may be imported again
    again = data.posts.create(
        author.id, author.username, PostInput("Again", "Body", [], "published"), origin
    )
    assert data.imports.known(origin.origin) == str(again.id) != str(post.id)


def test_errors_are_the_stores_exceptions_and_change_nothing(data, auth):
    author = auth.create()
    draft = add_post(data, author, "Draft", status="draft")
    before = data.redis.hgetall(data.keys.post(draft.id))
    with pytest.raises(PostChanged):
        data.posts.update(draft, PostInput("X", "", [], "draft"), expected_updated_at=1.0)
    published = add_post(data, author, "Out")
    with pytest.raises(PostChanged):
        data.posts.save_revision(published, PostInput("Y", "", [], "published"), 1.0)
    assert data.posts.revision(published.id) is None
    assert data.redis.hgetall(data.keys.post(draft.id)) == before
    data.posts.delete(draft)
    version = data.redis.get(data.keys.content_version)
    for save in (
        lambda: data.posts.update(draft, PostInput("X", "", ["t"], "published")),
        lambda: data.posts.update(draft, PostInput("X", "", [], "draft"), draft.updated_at),
        lambda: data.posts.save_revision(draft, PostInput("X", "", [], "draft"), 1.0),
    ):
        with pytest.raises(PostGone):
            save()
    assert not data.redis.exists(data.keys.post(draft.id), data.keys.tag("t"))
    assert data.redis.get(data.keys.content_version) == version


def test_an_autosave_sent_twice_is_not_a_conflict(data, auth, monkeypatch):
    """A client retry after a lost reply sends the same save again: it finds its own
    updated_at and saves again, instead of refusing the author's own text."""
    author = auth.create()
    draft = add_post(data, author, "Draft", status="draft")
    saved = data.posts.update(draft, PostInput("Draft", "v2", [], "draft"), draft.updated_at)
    # The same request again: the same clock reading.
    monkeypatch.setattr("blog.data.posts.time", SimpleNamespace(time=lambda: saved.updated_at))
    again = data.posts.update(draft, PostInput("Draft", "v2", [], "draft"), draft.updated_at)
    assert again == saved == data.posts.get(draft.id)


def test_a_create_sent_again_keeps_its_id_and_only_its_last_tags_and_images(
    data, auth, monkeypatch
):
    """A create's retry after a lost reply carries the same id claim: it saves the post
    it made again, reading and clearing what the first send wrote (a create that took a
    new id skips those reads: a new id has nothing yet)."""
    author = auth.create()
    first_image, second_image = fake_image(data, author.id), fake_image(data, author.id)
    monkeypatch.setattr("blog.data.posts.secrets.token_urlsafe", lambda n: "same-request")
    first = data.posts.create(
        author.id, author.username, PostInput("Once", shows([first_image]), ["a", "b"], "published")
    )
    data.comments.add(first.id, author.id, "Ann", "Early", moderated=False)
    again = data.posts.create(
        author.id, author.username, PostInput("Once", shows([second_image]), ["b", "c"], "draft")
    )
    assert again.id == first.id and again.slug == first.slug and again.comment_count == 1
    assert again == data.posts.get(first.id)
    assert data.redis.smembers(data.keys.post_tags(first.id)) == {"b", "c"}
    assert data.redis.smembers(data.keys.post_images(first.id)) == {second_image}
    assert not data.redis.smembers(data.keys.image_posts(first_image))
    assert not data.redis.exists(data.keys.tag("a"), data.keys.tag("b"))  # a draft now
    assert data.redis.zscore(data.keys.unused_images, first_image) is not None
    assert data.posts.last_id() == first.id


def test_an_edit_dropping_thousands_of_images_saves_whole(data, auth):
    """Lua's unpack() takes about 8,000 values: 4,100 images left unused are 8,200
    (score, id) values for one ZADD, which the script sends in slices."""
    author = auth.create()
    images = [fake_image(data, author.id) for _ in range(4100)]
    post = add_post(data, author, "Gallery", body=shows(images))
    assert data.redis.scard(data.keys.post_images(post.id)) == 4100
    assert data.redis.zcard(data.keys.unused_images) == 0
    post = data.posts.update(post, PostInput("Gallery", "Gone", [], "published"))
    assert data.redis.zcard(data.keys.unused_images) == 4100
    assert not data.redis.exists(data.keys.post_images(post.id))
    assert not data.redis.exists(data.keys.image_posts(images[0]))
