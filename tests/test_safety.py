"""CSRF protection on every state-changing request, and error pages in the site layout."""

from __future__ import annotations

import pytest
from flask import abort, url_for

from tests.helpers import (
    PASSWORD,
    add_post,
    assert_site_layout,
    cheap_password_hashing,
    csrf_token,
    login_with_token,
    make_app,
)


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def world(csrf_app):
    """alice with a post, an approved comment and a pending one."""
    data = csrf_app.extensions["blog_data"]
    alice = data.users.create("alice", PASSWORD)
    post = add_post(data, alice, "Protected", tags=["safe"])
    comment = data.comments.add(post.id, alice.id, "Reader", "Hello", moderated=False)
    pending = data.comments.add(post.id, alice.id, "Other", "Pending", moderated=True)
    return data, alice, post, comment, pending


def post_urls(app, post, comment) -> list[str]:
    """Every URL that accepts POST, built from the app's own routing table."""
    values = {"slug": post.slug, "comment_id": comment.id}
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "POST" in rule.methods:
                args = {
                    a: values.get(
                        a, 1 if type(rule._converters[a]).__name__ == "IntegerConverter" else "x"
                    )
                    for a in rule.arguments
                }
                urls.append(url_for(rule.endpoint, **args))
    return urls


READER_MAIL_ROUTES = {"/subscribe", "/subscribe/confirm/x", "/unsubscribe/x"}


@pytest.mark.parametrize("token", [None, "", "not-a-real-token"])
def test_every_post_without_a_valid_token_is_refused(csrf_app, world, token):
    data, alice, post, comment, pending = world
    client = csrf_app.test_client()
    login_with_token(client)
    urls = post_urls(csrf_app, post, comment)
    assert {
        "/login",
        "/logout",
        "/posts/new",
        f"/posts/{post.slug}/edit",
        f"/posts/{post.slug}/delete",
        f"/posts/{post.slug}/comments",
        f"/comments/{comment.id}/delete",
        f"/comments/{comment.id}/approve",
    } <= set(urls)
    form = {
        "title": "Changed",
        "body": "x",
        "status": "published",
        "name": "n",
        "username": "alice",
        "password": PASSWORD,
    }
    if token is not None:
        form["csrf_token"] = token
    for url in urls:
        response = client.post(url, data=form)
        if url.startswith("/admin/jobs/"):
            # rq-dashboard's own scripts cannot send our token: its job actions are
            # guarded by a same-origin check instead (tests/test_operations.py).
            assert response.status_code == 403, url
            continue
        if url in READER_MAIL_ROUTES:
            # Readers' mail routes carry no CSRF token by design (mail clients POST the
            # one-click unsubscribe without cookies): a signed token in the URL is what
            # they need, and "x" is none (tests/test_newsletter.py). /subscribe is off
            # without MAIL_SERVER, and with it only sends a confirmation mail.
            assert response.status_code in (400, 404), url
            continue
        assert response.status_code == 400, url
        page = response.get_data(as_text=True)
        assert "security token" in page, url
        if response.mimetype == "text/html":  # page scripts get the same words as JSON
            assert_site_layout(page)
            assert "<h1>Bad request</h1>" in page
    # nothing happened, and the session is still logged in
    assert data.posts.get(post.id).title == "Protected"
    assert data.comments.get(comment.id) is not None
    assert data.comments.get(pending.id).status == "pending"
    assert len(data.posts.by_author(alice.id)) == 1
    assert len(data.comments.for_post(post.id)) == 1
    assert "Log out alice" in client.get("/").get_data(as_text=True)


def test_a_token_from_another_session_is_refused(csrf_app, world):
    """Authors' comments still need the author's own token (visitors' pages have none)."""
    _, _, post, _, _ = world
    other = csrf_app.test_client()
    token = csrf_token(other.get("/login").get_data(as_text=True))
    client = csrf_app.test_client()
    login_with_token(client)
    response = client.post(
        f"/posts/{post.slug}/comments", data={"name": "n", "body": "b", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_with_tokens_from_the_pages_everything_works(csrf_app, world):
    data, alice, post, comment, pending = world
    client = csrf_app.test_client()
    login_with_token(client)

    token = csrf_token(client.get("/posts/new").get_data(as_text=True))
    response = client.post(
        "/posts/new",
        data={
            "title": "Made safely",
            "body": "b",
            "tags": "",
            "status": "published",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/posts/made-safely"

    token = csrf_token(client.get("/posts/made-safely/edit").get_data(as_text=True))
    response = client.post(
        "/posts/made-safely/edit",
        data={
            "title": "Edited safely",
            "body": "b",
            "tags": "",
            "status": "published",
            "csrf_token": token,
        },
    )
    assert response.headers["Location"] == "/posts/edited-safely"

    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    response = client.post(
        f"/posts/{post.slug}/comments",
        data={"name": "Me", "body": "With a token", "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    assert "With a token" in [c.body for c in data.comments.for_post(post.id)]

    response = client.post(f"/comments/{comment.id}/delete", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert data.comments.get(comment.id) is None

    queue = client.get("/moderation").get_data(as_text=True)
    response = client.post(
        f"/comments/{pending.id}/approve", data={"csrf_token": csrf_token(queue)}
    )
    assert response.status_code == 302
    assert data.comments.get(pending.id).status == "approved"

    confirm = client.get("/posts/edited-safely/delete").get_data(as_text=True)
    response = client.post("/posts/edited-safely/delete", data={"csrf_token": csrf_token(confirm)})
    assert response.status_code == 302
    assert data.posts.id_for_slug("edited-safely") is None

    home = client.get("/").get_data(as_text=True)
    response = client.post("/logout", data={"csrf_token": csrf_token(home)})
    assert response.status_code == 302
    assert "Log out" not in client.get("/").get_data(as_text=True)


SAME_ORIGIN = [
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},  # typed in, a bookmark
    {"Origin": "http://localhost"},  # a browser without Sec-Fetch-Site
    {},  # no browser at all (no cookie to abuse)
]
CROSS_ORIGIN = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another origin
    {"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"},  # the header wins
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # a sandboxed frame or data: page
]


@pytest.mark.parametrize("headers", SAME_ORIGIN)
def test_visitors_comment_without_a_token_from_the_site_itself(csrf_app, world, headers):
    data, _, post, _, _ = world
    client = csrf_app.test_client()
    page = client.get(f"/posts/{post.slug}")
    assert 'name="csrf_token"' not in page.get_data(as_text=True)
    assert "Set-Cookie" not in page.headers
    response = client.post(
        f"/posts/{post.slug}/comments", data={"name": "Anon", "body": "hi"}, headers=headers
    )
    assert response.status_code == 302
    assert "Set-Cookie" not in response.headers  # a visitor never gets a session
    assert "hi" in [c.body for c in data.comments.for_post(post.id)]


@pytest.mark.parametrize("headers", CROSS_ORIGIN)
def test_cross_origin_comment_posts_are_refused(csrf_app, world, headers):
    data, _, post, _, _ = world
    response = csrf_app.test_client().post(
        f"/posts/{post.slug}/comments", data={"name": "Anon", "body": "forged"}, headers=headers
    )
    page = error_page(response, 403, "Not yours")
    assert "sent from the post&#39;s own page on this site" in page
    assert "forged" not in [c.body for c in data.comments.for_post(post.id)]


def error_page(response, code: int, title: str) -> str:
    assert response.status_code == code
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert_site_layout(page)
    assert f"<h1>{title}</h1>" in page
    assert f"Error {code}" in page
    return page


def test_error_pages_use_the_site_layout(client, auth, data):
    alice = auth.create("alice")
    post = add_post(data, alice, "Mine")
    error_page(client.get("/no/such/page"), 404, "Not found")
    error_page(client.get("/posts/no-such-post"), 404, "Not found")
    error_page(client.get("/logout"), 405, "Method not allowed")
    error_page(client.delete(f"/posts/{post.slug}"), 405, "Method not allowed")
    for i in range(5):
        client.post(f"/posts/{post.slug}/comments", data={"name": "n", "body": f"b{i}"})
    page = error_page(
        client.post(f"/posts/{post.slug}/comments", data={"name": "n", "body": "b"}),
        429,
        "Slow down",
    )
    assert "5 comments a minute" in page
    auth.login("bob")
    error_page(client.get(f"/posts/{post.slug}/edit"), 403, "Not yours")


def test_csrf_error_page(csrf_app):
    client = csrf_app.test_client()
    page = error_page(
        client.post("/login", data={"username": "x", "password": "y"}), 400, "Bad request"
    )
    assert "security token" in page
    assert "reload the page" in page


def test_500_page_uses_the_layout_and_hides_details(redis_url, redis_client, tmp_path):
    app = make_app(redis_url, PROPAGATE_EXCEPTIONS=False, MEDIA_ROOT=str(tmp_path))

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internal detail")

    page = error_page(app.test_client().get("/boom"), 500, "Something went wrong")
    assert "unexpected error" in page
    assert "secret internal detail" not in page
    assert "Traceback" not in page


def test_400_from_abort_uses_the_layout(redis_url, redis_client, tmp_path):
    app = make_app(redis_url, MEDIA_ROOT=str(tmp_path))

    @app.route("/bad")
    def bad():
        abort(400, "That request made no sense.")

    page = error_page(app.test_client().get("/bad"), 400, "Bad request")
    assert "That request made no sense." in page
