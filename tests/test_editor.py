"""The editor's JSON endpoints (issue 12): live preview and autosave with pending
revisions; the edit page's images panel data. Real Redis; CSRF on where it matters."""

from __future__ import annotations

import json
import re

import pytest

from blog.rendering import render_markdown
from tests.helpers import PASSWORD, add_post, csrf_token, login_with_token, new_post


def edit_page(client, slug: str) -> str:
    return client.get(f"/posts/{slug}/edit").get_data(as_text=True)


def base_of(page: str) -> str:
    return re.search(r'id="base" name="base" type="hidden" value="([^"]*)"', page).group(1)


# ---- preview ---------------------------------------------------------------------------


def test_preview_renders_like_the_published_page(client, auth):
    auth.login()
    # The link in its own paragraph: after a `<script>` line CommonMark keeps the rest of
    # that line as (escaped) raw HTML, so the link would never be parsed as one.
    body = "Past the *fishing boats*.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    answer = client.post("/posts/preview", data={"body": body})
    assert answer.status_code == 200
    assert answer.get_json() == {"html": render_markdown(body)}
    assert "<script" not in answer.get_json()["html"]
    assert "javascript:" not in answer.get_json()["html"]


def test_preview_needs_login_csrf_and_respects_limits(csrf_app, redis_client):
    client = csrf_app.test_client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    logged_out = client.post("/posts/preview", data={"body": "x"}, headers={"X-CSRFToken": token})
    assert logged_out.status_code == 302 and "/login" in logged_out.location
    csrf_app.extensions["blog_data"].users.create("alice", PASSWORD)
    client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert client.post("/posts/preview", data={"body": "x"}).status_code == 400  # no token
    token = csrf_token(client.get("/posts/new").get_data(as_text=True))
    ok = client.post("/posts/preview", data={"body": "**x**"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and "<strong>x</strong>" in ok.get_json()["html"]
    too_long = client.post(
        "/posts/preview", data={"body": "x" * 200_001}, headers={"X-CSRFToken": token}
    )
    assert too_long.status_code == 400
    assert too_long.get_json()["error"] == "The body must be at most 200,000 characters long."


def test_preview_is_rate_limited_per_author(app, client, auth):
    app.config["PREVIEWS_PER_MINUTE"] = 3
    auth.login()
    codes = [client.post("/posts/preview", data={"body": "x"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.post("/posts/preview", data={"body": "x"}).get_json()
    assert refused["error"] == "At most 3 previews a minute; the preview resumes shortly."


def test_preview_shows_uploaded_images_with_their_sizes(client, auth, data):
    user = auth.create()
    auth.login(create=False)
    record = data.images.create(user.id, "PNG", "png", "image/png", 10, "a.png")
    from blog.data import ImageVariant

    data.images.mark_ready(record.id, 800, 600, [], [ImageVariant("original", 800, 600, 10)])
    html = client.post(
        "/posts/preview", data={"body": f"![a](/media/{record.id}/original.png)"}
    ).get_json()["html"]
    assert 'width="800" height="600"' in html


# ---- autosave --------------------------------------------------------------------------


def test_first_autosave_of_a_new_post_makes_a_draft(client, auth, data):
    auth.login()
    answer = client.post(
        "/posts/autosave", data={"title": "Half written", "body": "So far", "tags": "a, b"}
    )
    assert answer.status_code == 200
    saved = answer.get_json()
    assert saved["kind"] == "draft"
    assert saved["edit_url"] == "/posts/half-written/edit"
    assert saved["autosave_url"] == "/posts/half-written/autosave"
    post = data.posts.get(data.posts.id_for_slug("half-written"))
    assert (post.status, post.body, post.tags) == ("draft", "So far", ["a", "b"])
    assert saved["saved_at"] == post.updated_at
    assert float(saved["base"]) == post.updated_at
    assert client.get("/").get_data(as_text=True).count("Half written") == 0  # not public


def test_autosave_of_a_draft_updates_it_and_follows_its_slug(client, auth, data):
    auth.login()
    new_post(client, title="Draft one", body="v1", status="draft")
    base = base_of(edit_page(client, "draft-one"))
    saved = client.post(
        "/posts/draft-one/autosave", data={"title": "Draft renamed", "body": "v2", "base": base}
    ).get_json()
    assert saved["kind"] == "draft" and saved["edit_url"] == "/posts/draft-renamed/edit"
    post = data.posts.get(data.posts.id_for_slug("draft-renamed"))
    assert (post.title, post.body, post.status) == ("Draft renamed", "v2", "draft")
    # The next autosave goes with the new base.
    again = client.post(
        "/posts/draft-renamed/autosave",
        data={"title": "Draft renamed", "body": "v3", "base": saved["base"]},
    )
    assert again.status_code == 200
    assert data.posts.get(post.id).body == "v3"


def test_autosave_never_publishes_half_done_edits(client, auth, data):
    auth.login()
    new_post(client, title="Live", body="The published text.", tags="one")
    page = edit_page(client, "live")
    assert ">Update</button>" in page
    saved = client.post(
        "/posts/live/autosave",
        data={"title": "Live (edited)", "body": "Half-done.", "tags": "two", "base": base_of(page)},
    ).get_json()
    assert saved["kind"] == "revision"
    shown = client.get("/posts/live").get_data(as_text=True)
    assert "The published text." in shown and "Half-done." not in shown
    post = data.posts.get(data.posts.id_for_slug("live"))
    assert (post.title, post.tags) == ("Live", ["one"])

    # The editor opens with the pending revision and says how to publish it.
    page = edit_page(client, "live")
    assert "not published yet" in page and "Update" in page
    assert "Half-done.</textarea>" in page
    assert 'value="Live (edited)"' in page
    assert "Discard autosaved changes" in page

    # "Update" publishes it and drops the revision.
    client.post(
        "/posts/live/edit",
        data={"title": "Live (edited)", "body": "Half-done.", "tags": "two", "status": "published"},
    )
    assert "Half-done." in client.get("/posts/live-edited").get_data(as_text=True)
    assert data.posts.revision(post.id) is None
    assert "not published yet" not in edit_page(client, "live-edited")


def test_a_revision_can_be_discarded(client, auth, data):
    auth.login()
    new_post(client, title="Keep me", body="Original.")
    client.post(
        "/posts/keep-me/autosave",
        data={"title": "Keep me", "body": "Oops.", "base": base_of(edit_page(client, "keep-me"))},
    )
    client.post("/posts/keep-me/revision/discard")
    page = edit_page(client, "keep-me")
    assert "Original.</textarea>" in page and "not published yet" not in page


def test_autosave_refuses_to_overwrite_a_newer_save(client, auth, data):
    auth.login()
    new_post(client, title="Shared", body="v1", status="draft")
    stale = base_of(edit_page(client, "shared"))
    client.post("/posts/shared/edit", data={"title": "Shared", "body": "v2", "status": "draft"})
    refused = client.post(
        "/posts/shared/autosave", data={"title": "Shared", "body": "stale tab", "base": stale}
    )
    assert refused.status_code == 409
    assert "saved in another tab or window" in refused.get_json()["error"]
    assert data.posts.get(data.posts.id_for_slug("shared")).body == "v2"


def test_autosave_checks_limits_and_ownership(client, auth, data):
    auth.login()
    bad = client.post("/posts/autosave", data={"title": "", "body": "x"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "Give the post a title."
    long = client.post("/posts/autosave", data={"title": "t" * 201})
    assert long.get_json()["error"] == "The title must be 1 to 200 characters long."
    bob = auth.create("bob")
    add_post(data, bob, "Bobs", status="draft")
    assert client.post("/posts/bobs/autosave", data={"title": "Mine", "base": "1"}).status_code in (
        403,
        404,
    )


def test_autosave_needs_a_csrf_token(csrf_app, redis_client):
    client = csrf_app.test_client()
    csrf_app.extensions["blog_data"].users.create("alice", PASSWORD)
    login_with_token(client)
    assert client.post("/posts/autosave", data={"title": "No token"}).status_code == 400
    token = csrf_token(client.get("/posts/new").get_data(as_text=True))
    answer = client.post("/posts/autosave", data={"title": "With token", "csrf_token": token})
    assert answer.status_code == 200


# ---- images panel ----------------------------------------------------------------------


@pytest.fixture
def ready_image(data, auth):
    from blog.data import ImageVariant

    user = auth.create()
    record = data.images.create(user.id, "PNG", "png", "image/png", 10, "harbour.png")
    data.images.mark_ready(
        record.id,
        1600,
        1200,
        ["GPS position"],
        [ImageVariant("original", 1600, 1200, 10), ImageVariant("thumb", 400, 300, 5)],
    )
    return record


def test_edit_page_lists_the_posts_images(client, auth, ready_image):
    auth.login(create=False)
    url = f"/media/{ready_image.id}/original.png"
    new_post(client, title="Pictured", body=f"![Harbour at dusk]({url})\n\n![again]({url})")
    page = edit_page(client, "pictured")
    raw = re.search(r'data-images="([^"]*)"', page).group(1)
    import html

    images = json.loads(html.unescape(raw))
    assert [i["id"] for i in images] == [ready_image.id]  # once, though shown twice
    assert images[0]["url"] == url
    assert {v["name"] for v in images[0]["variants"]} == {"original", "thumb"}
    assert images[0]["removed"] == ["GPS position"]


def test_autosaving_a_draft_keeps_the_visitors_page_cache(client, auth, data):
    auth.login()
    new_post(client, title="Quiet draft", body="v1", status="draft")
    before = data.content_state().version
    base = base_of(edit_page(client, "quiet-draft"))
    for n in range(3):
        saved = client.post(
            "/posts/quiet-draft/autosave",
            data={"title": "Quiet draft", "body": f"v{n}", "base": base},
        ).get_json()
        base = saved["base"]
    assert data.content_state().version == before  # no visitor page changed
    client.post("/posts/quiet-draft/edit", data={"title": "Quiet draft", "status": "published"})
    assert data.content_state().version != before
