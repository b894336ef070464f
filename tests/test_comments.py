"""Visitor comments: posting, escaping, rate limits, the honeypot, deletion, moderation."""

from __future__ import annotations

import pytest

from blog.data import PostInput
from blog.data.comments import CommentGone
from tests.helpers import PASSWORD, add_post, assert_site_layout, cheap_password_hashing, make_app
from tests.invariants import assert_consistent


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def alice(data):
    return data.users.create("alice", PASSWORD)


@pytest.fixture
def post(data, alice):
    return add_post(data, alice, "Talk to me")


def comment(client, slug, name="Reader", body="Nice post", ip="10.0.0.1", **extra):
    return client.post(
        f"/posts/{slug}/comments",
        data={"name": name, "body": body, **extra},
        environ_base={"REMOTE_ADDR": ip},
    )


def login(client, username="alice"):
    return client.post("/login", data={"username": username, "password": PASSWORD})


def test_anyone_can_comment_on_a_published_post(client, data, post):
    response = comment(client, post.slug, "Bea", "Lovely")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/posts/{post.slug}#comments"
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "Thank you for your comment." in page
    assert "<strong>Bea</strong>" in page
    assert "Lovely" in page
    [stored] = data.comments.for_post(post.id)
    assert (stored.name, stored.body, stored.status) == ("Bea", "Lovely", "approved")
    assert_consistent(data.redis)


def test_comment_form_is_labelled_and_has_a_hidden_honeypot(client, post):
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert '<label for="name">Name</label>' in page
    assert '<label for="body">Comment</label>' in page
    assert '<div class="hp" aria-hidden="true">' in page
    assert 'name="website"' in page


def test_comment_text_is_escaped_and_links_are_nofollow(client, post):
    body = (
        "<b>not bold</b> & <script>alert(1)</script>\n"
        "see https://example.com/page?a=1&b=2. or javascript:alert(2)"
    )
    comment(client, post.slug, name="<i>Eve</i>", body=body)
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;<br>" in page
    assert "<strong>&lt;i&gt;Eve&lt;/i&gt;</strong>" in page
    assert "<script>alert" not in page
    assert (
        '<a href="https://example.com/page?a=1&amp;b=2" rel="nofollow ugc noopener">'
        "https://example.com/page?a=1&amp;b=2</a>."
    ) in page
    assert 'href="javascript:' not in page


def test_rate_limit_is_five_a_minute_per_address(client, data, post):
    for i in range(5):
        assert comment(client, post.slug, body=f"comment {i}").status_code == 302
    response = comment(client, post.slug, body="one too many")
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "at most 5 comments a minute" in page
    assert_site_layout(page)
    # another address is unaffected; the first stays blocked
    assert comment(client, post.slug, body="from elsewhere", ip="10.0.0.2").status_code == 302
    assert comment(client, post.slug, body="still blocked").status_code == 429
    bodies = [c.body for c in data.comments.for_post(post.id)]
    assert bodies == [f"comment {i}" for i in range(5)] + ["from elsewhere"]
    # the attempts live in Redis, expiring, so every web process shares them; a sliding
    # window of the 5 accepted ones (refused attempts are not counted)
    key = "blog:rate:comment:10.0.0.1"
    assert data.redis.zcard(key) == 5
    assert 0 < data.redis.ttl(key) <= 60


def test_rate_limit_is_shared_between_app_instances(redis_url, redis_client, post, tmp_path):
    """Two web processes see one count: it is in Redis, not in memory."""
    apps = [make_app(redis_url, MEDIA_ROOT=str(tmp_path)) for _ in range(2)]
    codes = [
        comment(apps[i % 2].test_client(), post.slug, body=f"c{i}").status_code for i in range(6)
    ]
    assert codes == [302] * 5 + [429]


def test_honeypot_stores_nothing_but_looks_normal(client, data, post):
    response = comment(client, post.slug, body="Buy now", website="https://spam.example")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/posts/{post.slug}")
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "Thank you for your comment." in page
    assert "Buy now" not in page
    assert data.comments.for_post(post.id) == []
    assert not list(data.redis.scan_iter("blog:comment:*"))


def test_author_deletes_comments_on_their_posts(client, data, alice, post):
    kept = data.comments.add(post.id, alice.id, "Keep", "keep me", moderated=False)
    gone = data.comments.add(post.id, alice.id, "Spam", "spam", moderated=False)
    login(client)
    response = client.post(
        f"/comments/{gone.id}/delete", headers={"Referer": f"http://localhost/posts/{post.slug}"}
    )
    assert response.status_code == 302
    assert [c.id for c in data.comments.for_post(post.id)] == [kept.id]
    assert data.comments.get(gone.id) is None
    assert "spam" not in client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert client.post(f"/comments/{gone.id}/delete").status_code == 404
    assert_consistent(data.redis)


def test_others_cannot_delete_comments(client, data, alice, post):
    c = data.comments.add(post.id, alice.id, "Reader", "hello", moderated=False)
    data.users.create("bob", PASSWORD)
    bob_post = add_post(data, data.users.by_username("bob"), "Bob's")
    login(client, "bob")
    response = client.post(f"/comments/{c.id}/delete")
    assert response.status_code == 403
    assert_site_layout(response.get_data(as_text=True))
    assert data.comments.get(c.id) is not None
    # an author of another post cannot approve it either
    assert client.post(f"/comments/{c.id}/approve").status_code == 403
    assert bob_post.id != post.id


@pytest.fixture
def moderated_app(redis_url, redis_client, tmp_path):
    return make_app(redis_url, COMMENT_MODERATION=True, MEDIA_ROOT=str(tmp_path))


def test_moderation_holds_comments_until_approved(moderated_app):
    data = moderated_app.extensions["blog_data"]
    alice = data.users.create("alice", PASSWORD)
    data.users.create("bob", PASSWORD)
    post = add_post(data, alice, "Moderated")
    visitor = moderated_app.test_client()
    response = comment(visitor, post.slug, "Pat", "Please approve me")
    assert response.status_code == 302
    page = visitor.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "your comment waits for the author" in page
    assert "Please approve me" not in page.split('id="comments"')[1]

    bob = moderated_app.test_client()
    login(bob, "bob")
    assert "Nothing waits for approval" in bob.get("/moderation").get_data(as_text=True)
    [pending] = data.comments.pending_for_author(alice.id)
    assert bob.post(f"/comments/{pending.id}/approve").status_code == 403

    author = moderated_app.test_client()
    login(author)
    queue = author.get("/moderation").get_data(as_text=True)
    assert "Please approve me" in queue
    assert f'action="/comments/{pending.id}/approve"' in queue
    assert author.post(f"/comments/{pending.id}/approve").status_code == 302
    assert "Nothing waits for approval" in author.get("/moderation").get_data(as_text=True)
    assert "Please approve me" in visitor.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert [c.status for c in data.comments.for_post(post.id)] == ["approved"]
    assert_consistent(data.redis)


def test_moderator_can_delete_a_pending_comment(moderated_app):
    data = moderated_app.extensions["blog_data"]
    alice = data.users.create("alice", PASSWORD)
    post = add_post(data, alice, "Moderated")
    visitor = moderated_app.test_client()
    comment(visitor, post.slug, "Spammer", "spam spam")
    [pending] = data.comments.pending_for_author(alice.id)
    author = moderated_app.test_client()
    login(author)
    assert author.post(f"/comments/{pending.id}/delete").status_code == 302
    assert data.comments.pending_for_author(alice.id) == []
    assert data.comments.get(pending.id) is None
    assert_consistent(data.redis)


def test_approving_a_comment_deleted_meanwhile_does_not_resurrect_it(client, data, alice, post):
    c = data.comments.add(post.id, alice.id, "Pat", "pending", moderated=True)
    data.comments.delete(c, alice.id)
    with pytest.raises(CommentGone):
        data.comments.approve(c, alice.id)
    assert not data.redis.exists(data.keys.comment(c.id))
    assert client.get(f"/posts/{post.slug}").status_code == 200
    assert_consistent(data.redis)


@pytest.mark.parametrize(
    "name, body, message",
    [
        ("", "text", "Please give a name."),
        ("   ", "text", "Please give a name."),
        ("n" * 81, "text", "The name must be 1 to 80 characters long."),
        ("Reader", "", "The comment is empty."),
        ("Reader", "c" * 5001, "A comment must be 1 to 5,000 characters long."),
    ],
)
def test_comment_limits_have_clear_messages(client, data, post, name, body, message):
    response = comment(client, post.slug, name, body)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert_site_layout(page)
    assert data.comments.for_post(post.id) == []


def test_comment_at_the_limits_is_accepted(client, data, post):
    assert comment(client, post.slug, "n" * 80, "c" * 5000).status_code == 302
    [stored] = data.comments.for_post(post.id)
    assert (len(stored.name), len(stored.body)) == (80, 5000)


def test_no_comments_on_drafts_or_missing_posts(client, data, alice):
    draft = add_post(data, alice, "Draft", status="draft")
    assert comment(client, draft.slug).status_code == 404
    login(client)  # not even its author
    assert comment(client, draft.slug).status_code == 404
    assert comment(client, "no-such-post").status_code == 404
    assert not list(data.redis.scan_iter("blog:comment:*"))


def test_comment_via_an_old_slug_lands_on_the_post(client, data, alice, post):
    data.posts.update(post, PostInput(title="Renamed", body="", tags=[], status="published"))
    response = comment(client, post.slug, body="still works")
    assert response.status_code == 302
    assert response.headers["Location"] == "/posts/renamed#comments"
    assert [c.body for c in data.comments.for_post(post.id)] == ["still works"]
