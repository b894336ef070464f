"""Writing posts: the forms, slugs, renames, deletion, drafts, scheduling and limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from blog.data import PostGone, PostInput
from tests.helpers import (
    add_post,
    assert_site_layout,
    cheap_password_hashing,
    elements,
    labels,
    listed_titles,
    new_post,
)
from tests.invariants import assert_consistent


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def alice(auth, data):
    auth.login("alice")
    return data.users.by_username("alice")


def created_slug(response) -> str:
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/posts/")
    return location.removeprefix("/posts/")


def test_new_post_form_has_visible_labels_for_every_field(client, alice):
    page = client.get("/posts/new").get_data(as_text=True)
    found = labels(page)
    ids = {attrs.get("id"): (tag, attrs) for tag, attrs in elements(page) if attrs.get("id")}
    for text, kind in [
        ("Title", "input"),
        ("Body", "textarea"),
        ("Tags", "input"),
        ("Status", "select"),
        ("Publish at (UTC)", "input"),
    ]:
        assert text in found, f"no label {text!r}: {sorted(found)}"
        assert ids[found[text]][0] == kind
    assert ids[found["Publish at (UTC)"]][1]["type"] == "datetime-local"
    options = [attrs["value"] for tag, attrs in elements(page) if tag == "option"]
    assert options == ["draft", "published", "scheduled"]


def test_edit_form_is_filled_with_the_post(client, alice, data):
    post = add_post(
        data,
        alice,
        "Editable",
        body="The *body*",
        tags=["b", "a"],
        status="scheduled",
        publish_at=datetime(2099, 5, 6, 7, 8, tzinfo=UTC).timestamp(),
    )
    page = client.get(f"/posts/{post.slug}/edit").get_data(as_text=True)
    assert set(labels(page)) >= {"Title", "Body", "Tags", "Status", "Publish at (UTC)"}
    assert 'value="Editable"' in page
    assert "The *body*</textarea>" in page
    assert 'value="a, b"' in page
    assert '<option selected value="scheduled">' in page
    assert 'value="2099-05-06T07:08"' in page


@pytest.mark.parametrize(
    "title, slug",
    [
        ("Hello World", "hello-world"),
        ("Grüße aus Köln", "grüße-aus-köln"),
        ("你好，世界", "你好-世界"),
        ("Привет, мир!", "привет-мир"),
        ("🎉🎉🎉", "post"),
        ("  Spaces   everywhere  ", "spaces-everywhere"),
        ("a/b?c#d", "a-b-c-d"),
    ],
)
def test_slug_comes_from_the_title_and_is_unicode_safe(client, alice, title, slug):
    location = new_post(client, title=title).headers["Location"]
    assert location == "/posts/" + quote(slug)
    page = client.get(location)
    assert page.status_code == 200
    assert f"<h1>{title.strip()}</h1>" in page.get_data(as_text=True)
    assert client.get(f"/posts/{slug}").status_code == 200


def test_same_title_gets_a_numbered_slug(client, alice, data):
    slugs = [created_slug(new_post(client, title="Hello", body=f"number {i}")) for i in range(3)]
    assert slugs == ["hello", "hello-2", "hello-3"]
    for i, slug in enumerate(slugs):
        assert f"number {i}" in client.get(f"/posts/{slug}").get_data(as_text=True)
    # a title that slugifies to a taken numbered slug is not confused with those
    assert created_slug(new_post(client, title="Hello 2")) == "hello-2-2"
    assert_consistent(data.redis)


def test_slug_new_is_not_given_to_a_post(client, alice):
    """/posts/new is the editor; a post there could never be read."""
    slug = created_slug(new_post(client, title="New", body="fresh"))
    assert slug != "new"
    page = client.get(f"/posts/{slug}")
    assert page.status_code == 200
    assert "fresh" in page.get_data(as_text=True)


def test_rename_keeps_the_old_url_as_a_permanent_redirect(client, alice, data):
    assert created_slug(new_post(client, title="Old title", body="x")) == "old-title"
    response = client.post(
        "/posts/old-title/edit",
        data={"title": "New title", "body": "x", "tags": "", "status": "published"},
    )
    assert created_slug(response) == "new-title"
    old = client.get("/posts/old-title")
    assert old.status_code == 301
    assert old.headers["Location"] == "/posts/new-title"
    assert client.get("/posts/new-title").status_code == 200

    # the old slug still belongs to the renamed post: a new post cannot take it
    assert created_slug(new_post(client, title="Old title", body="y")) == "old-title-2"
    assert client.get("/posts/old-title").headers["Location"] == "/posts/new-title"

    # renaming back reuses the post's own old slug; the intermediate one redirects
    response = client.post(
        "/posts/new-title/edit",
        data={"title": "Old Title", "body": "x", "tags": "", "status": "published"},
    )
    assert created_slug(response) == "old-title"
    assert client.get("/posts/new-title").headers["Location"] == "/posts/old-title"
    assert_consistent(data.redis)


def test_case_only_title_change_keeps_the_slug(client, alice):
    created_slug(new_post(client, title="Hello world"))
    response = client.post(
        "/posts/hello-world/edit",
        data={"title": "Hello World!", "body": "", "tags": "", "status": "published"},
    )
    assert created_slug(response) == "hello-world"


def test_delete_asks_for_confirmation_then_deletes_with_post(client, alice, data):
    slug = created_slug(new_post(client, title="Doomed", tags="gone"))
    post = data.posts.get(data.posts.id_for_slug(slug))
    data.comments.add(post.id, alice.id, "Visitor", "A comment", moderated=False)

    confirm = client.get(f"/posts/{slug}/delete")
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "Delete “Doomed”?" in page
    forms = [attrs for tag, attrs in elements(page) if tag == "form"]
    assert any(f.get("method") == "post" for f in forms)
    assert client.get(f"/posts/{slug}").status_code == 200  # GET changed nothing

    response = client.post(f"/posts/{slug}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert client.get(f"/posts/{slug}").status_code == 404
    assert "Doomed" not in client.get("/").get_data(as_text=True)
    assert client.get("/tags/gone").status_code == 404
    assert data.posts.get(post.id) is None
    assert_consistent(data.redis)
    assert not [
        k for k in data.redis.scan_iter("blog:*") if k.startswith(("blog:post:", "blog:comment:"))
    ]


def test_drafts_are_visible_to_their_author_only(client, auth, alice, data):
    slug = created_slug(new_post(client, title="Secret plan", tags="secret", status="draft"))
    own = client.get(f"/posts/{slug}")
    assert own.status_code == 200
    assert "Draft" in own.get_data(as_text=True)
    assert "Secret plan" in client.get("/dashboard").get_data(as_text=True)

    auth.logout()
    assert client.get(f"/posts/{slug}").status_code == 404
    auth.login("bob")
    assert client.get(f"/posts/{slug}").status_code == 404
    assert client.get(f"/posts/{slug}/edit").status_code == 404
    for path in ["/", "/tags", "/feed.atom", "/sitemap.xml"]:
        assert "Secret" not in client.get(path).get_data(as_text=True), path
    assert client.get("/tags/secret").status_code == 404


def test_publishing_a_draft_makes_it_public(client, auth, alice):
    slug = created_slug(new_post(client, title="Soon", tags="later", status="draft"))
    client.post(
        f"/posts/{slug}/edit",
        data={"title": "Soon", "body": "", "tags": "later", "status": "published"},
    )
    auth.logout()
    assert client.get(f"/posts/{slug}").status_code == 200
    assert listed_titles(client.get("/").get_data(as_text=True)) == ["Soon"]
    assert client.get("/tags/later").status_code == 200


def test_unpublishing_hides_the_post_and_its_tags(client, auth, alice, data):
    slug = created_slug(new_post(client, title="Oops", tags="oops"))
    client.post(
        f"/posts/{slug}/edit", data={"title": "Oops", "body": "", "tags": "oops", "status": "draft"}
    )
    auth.logout()
    assert client.get(f"/posts/{slug}").status_code == 404
    assert client.get("/tags/oops").status_code == 404
    assert "oops" not in client.get("/tags").get_data(as_text=True)
    assert_consistent(data.redis)


def test_scheduled_post_appears_by_itself_when_due(client, auth, alice, data):
    due = time.time() + 1.5
    post = add_post(
        data, alice, "From the future", tags=["later"], status="scheduled", publish_at=due
    )
    own = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "Scheduled" in own
    assert "scheduled for" in client.get("/dashboard").get_data(as_text=True)
    auth.logout()

    def public_views():
        return {
            "home": "From the future" in client.get("/").get_data(as_text=True),
            "post": client.get(f"/posts/{post.slug}").status_code == 200,
            "tag": client.get("/tags/later").status_code == 200,
            "tags": "later" in client.get("/tags").get_data(as_text=True),
            "feed": "From the future" in client.get("/feed.atom").get_data(as_text=True),
            "sitemap": post.slug in client.get("/sitemap.xml").get_data(as_text=True),
        }

    assert not any(public_views().values()), public_views()
    # no comments before it is out, either
    assert (
        client.post(
            f"/posts/{post.slug}/comments", data={"name": "Early", "body": "first!"}
        ).status_code
        == 404
    )

    time.sleep(max(0.0, due - time.time()) + 0.05)
    assert all(public_views().values()), public_views()
    assert_consistent(data.redis)


def test_scheduling_through_the_form(client, alice, data):
    response = new_post(
        client, title="Next year", status="scheduled", publish_at="2099-01-02T03:04"
    )
    post = data.posts.get(data.posts.id_for_slug(created_slug(response)))
    assert post.status == "scheduled"
    assert post.published_at == datetime(2099, 1, 2, 3, 4, tzinfo=UTC).timestamp()
    assert "scheduled for 02 Jan 2099, 03:04 UTC" in client.get("/dashboard").get_data(as_text=True)


def test_scheduled_without_a_date_is_refused(client, alice, data):
    response = new_post(client, title="When?", status="scheduled")
    assert response.status_code == 400
    assert "A scheduled post needs a publish date and time." in response.get_data(as_text=True)
    assert data.posts.id_for_slug("when") is None


def test_unknown_status_is_refused(client, alice, data):
    response = new_post(client, title="Odd", status="deleted")
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert data.posts.id_for_slug("odd") is None


def test_editing_a_published_post_keeps_its_date(client, alice, data):
    post = add_post(data, alice, "Dated")
    client.post(
        f"/posts/{post.slug}/edit",
        data={"title": "Dated", "body": "more", "tags": "", "status": "published"},
    )
    again = data.posts.get(post.id)
    assert again.published_at == post.published_at
    assert again.updated_at > post.updated_at


@pytest.mark.parametrize(
    "form, message",
    [
        ({"title": ""}, "Give the post a title."),
        ({"title": "   "}, "Give the post a title."),
        ({"title": "t" * 201}, "The title must be 1 to 200 characters long."),
        ({"body": "b" * 200_001}, "The body must be at most 200,000 characters long."),
        (
            {"tags": ", ".join(f"tag{i}" for i in range(21))},
            "At most 20 tags, please (you gave 21).",
        ),
        ({"tags": "ok, " + "x" * 41}, "is longer than 40 characters"),
        ({"tags": "c++"}, "may only contain letters, digits"),
    ],
)
def test_limits_are_refused_with_a_clear_message(client, alice, data, form, message):
    response = new_post(client, **{"title": "Limits", **form})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page
    assert 'role="alert"' in page
    assert_site_layout(page)
    assert data.posts.by_author(alice.id) == []


def test_one_forms_values_and_errors_never_reach_the_next(client, alice, data):
    """PostForm's fields are bound once and copied for each form (BoundOnceMeta):
    each copy keeps its own data and errors, and nothing it is given reaches the
    fields it was copied from."""
    refused = new_post(client, title="", body="Kept *body*", tags="c++", status="scheduled")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "Give the post a title." in page
    assert "may only contain letters" in page and "needs a publish date" in page
    assert "Kept *body*" in page
    blank = client.get("/posts/new").get_data(as_text=True)
    assert 'role="alert"' not in blank and "Kept *body*" not in blank and "c++" not in blank
    assert '<option selected value="draft">' in blank  # the default, not the last request's
    assert created_slug(new_post(client, title="Fine", tags="ok")) == "fine"
    again = new_post(client, title="t" * 201).get_data(as_text=True)
    assert "The title must be 1 to 200 characters long." in again
    assert "Give the post a title." not in again and "may only contain" not in again
    [listed] = data.posts.by_author(alice.id)
    post = data.posts.get(listed.id)
    assert (post.title, post.tags, post.body) == ("Fine", ["ok"], "Some *text*")


def test_values_at_the_limits_are_accepted(client, alice, data):
    tags = ", ".join(f"t{i:02d}" + "x" * 37 for i in range(20))  # 20 tags of 40 characters
    response = new_post(client, title="T" * 200, body="b" * 200_000, tags=tags)
    post = data.posts.get(data.posts.id_for_slug(created_slug(response)))
    assert len(post.title) == 200
    assert len(post.body) == 200_000
    assert len(post.tags) == 20
    assert all(len(t) == 40 for t in post.tags)


def test_tags_are_normalised(client, alice, data):
    response = new_post(client, tags="  Redis , Background   Jobs,redis, REDIS ,, Köln ")
    post = data.posts.get(data.posts.id_for_slug(created_slug(response)))
    assert post.tags == ["background-jobs", "köln", "redis"]
    # 25 entries that normalise to 20 distinct tags are within the limit
    many = ", ".join([f"tag{i}" for i in range(20)] + [f"TAG{i}" for i in range(5)])
    response = new_post(client, title="Many", tags=many)
    post = data.posts.get(data.posts.id_for_slug(created_slug(response)))
    assert len(post.tags) == 20


def test_retagging_moves_the_post_between_tag_pages(client, alice, data):
    slug = created_slug(new_post(client, title="Moving", tags="old, kept"))
    client.post(
        f"/posts/{slug}/edit",
        data={"title": "Moving", "body": "", "tags": "kept, new", "status": "published"},
    )
    assert client.get("/tags/old").status_code == 404
    assert "Moving" in client.get("/tags/new").get_data(as_text=True)
    assert "Moving" in client.get("/tags/kept").get_data(as_text=True)
    tags_page = client.get("/tags").get_data(as_text=True)
    assert "#old" not in tags_page
    assert "#new" in tags_page
    assert_consistent(data.redis)


def test_post_page_renders_markdown_and_escapes_the_title(client, alice):
    body = (
        "# Heading\n\nSome **bold** and [a link](https://example.com).\n\n"
        "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>"
    )
    slug = created_slug(new_post(client, title="<b>Title</b> & co", body=body))
    page = client.get(f"/posts/{slug}").get_data(as_text=True)
    assert "<h1>Heading</h1>" in page
    assert "<strong>bold</strong>" in page
    assert '<a href="https://example.com" rel="noopener noreferrer">a link</a>' in page
    assert "&lt;b&gt;Title&lt;/b&gt; &amp; co" in page
    assert "<script>alert" not in page
    assert "onerror" not in page


def test_editing_a_post_deleted_meanwhile_does_not_bring_it_back(client, alice, data):
    post = add_post(data, alice, "Two tabs", tags=["tabs"])
    assert client.get(f"/posts/{post.slug}/edit").status_code == 200
    data.posts.delete(post)  # in the other tab
    response = client.post(
        f"/posts/{post.slug}/edit",
        data={"title": "Two tabs", "body": "", "tags": "tabs", "status": "published"},
    )
    assert response.status_code == 404
    with pytest.raises(PostGone):
        data.posts.update(
            post, PostInput(title="Two tabs", body="", tags=["tabs"], status="published")
        )
    assert data.posts.get(post.id) is None
    assert client.get("/tags/tabs").status_code == 404
    assert_consistent(data.redis)
