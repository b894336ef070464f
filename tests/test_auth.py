"""Authors: log in and out, login-only pages, `next`, and posts that belong to someone."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import PASSWORD, add_post, assert_site_layout, cheap_password_hashing


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch):
    cheap_password_hashing(monkeypatch)


@pytest.fixture
def alice_post(auth, data):
    alice = auth.create("alice")
    post = add_post(data, alice, "Alice writes")
    comment = data.comments.add(post.id, alice.id, "Visitor", "Nice", moderated=False)
    return post, comment


def test_stored_password_is_an_scrypt_hash(app, data, redis_client, monkeypatch):
    monkeypatch.undo()  # the real cost, as in production
    user = data.users.create("alice", PASSWORD)
    stored = redis_client.hgetall(data.keys.user(user.id))
    assert stored["password_hash"].startswith("scrypt:")
    assert PASSWORD not in str(stored)
    assert data.users.authenticate("alice", PASSWORD) == user
    assert data.users.authenticate("alice", "wrong password") is None


def test_login_and_logout(client, auth):
    response = auth.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert "Log out alice" in page.get_data(as_text=True)

    assert client.get("/logout").status_code == 405  # logging out changes state: POST only
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get("/dashboard").status_code == 302
    assert "Log in" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    "username, password",
    [("alice", "wrong password"), ("nobody", PASSWORD), ("alice", ""), ("", PASSWORD)],
)
def test_failed_login_says_so_without_telling_which_part(client, auth, username, password):
    auth.create("alice")
    response = client.post("/login", data={"username": username, "password": password})
    assert response.status_code in (200, 401)
    assert "Log out" not in response.get_data(as_text=True)
    if username and password:
        assert response.status_code == 401
        assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_login_username_is_case_insensitive(client, auth):
    auth.create("alice")
    response = client.post("/login", data={"username": "Alice", "password": PASSWORD})
    assert response.status_code == 302


def write_requests(post, comment):
    slug = post.slug
    return [
        ("GET", "/posts/new"),
        ("POST", "/posts/new"),
        ("GET", f"/posts/{slug}/edit"),
        ("POST", f"/posts/{slug}/edit"),
        ("GET", f"/posts/{slug}/delete"),
        ("POST", f"/posts/{slug}/delete"),
        ("GET", "/dashboard"),
        ("GET", "/moderation"),
        ("POST", f"/comments/{comment.id}/delete"),
        ("POST", f"/comments/{comment.id}/approve"),
        ("POST", "/logout"),
    ]


def test_anonymous_write_requests_redirect_to_login(client, data, alice_post):
    post, comment = alice_post
    for method, path in write_requests(post, comment):
        response = client.open(
            path, method=method, data={"title": "Hijacked", "status": "published"}
        )
        assert response.status_code == 302, (method, path)
        location = urlsplit(response.headers["Location"])
        assert location.path == "/login", (method, path)
        assert parse_qs(location.query)["next"] == [path], (method, path)
    # nothing was changed by any of them
    assert data.posts.get(post.id).title == "Alice writes"
    assert data.comments.get(comment.id) is not None
    assert data.posts.page(1, 10).items[0].id == post.id


def test_after_login_the_next_page_is_shown(client, auth, alice_post):
    post, _ = alice_post
    target = f"/posts/{post.slug}/edit"
    login_url = client.get(target).headers["Location"]
    response = client.post(login_url, data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == target
    assert client.get(target).status_code == 200


def test_next_keeps_the_query_string(client, auth):
    auth.create("alice")
    login_url = client.get("/dashboard?sort=old").headers["Location"]
    response = client.post(login_url, data={"username": "alice", "password": PASSWORD})
    assert response.headers["Location"] == "/dashboard?sort=old"


def leaves_the_site(location: str) -> bool:
    """Would a browser following this Location leave localhost? (Browsers read "\\" as
    "/" and drop tabs and newlines in URLs.)"""
    normalised = location.replace("\\", "/").replace("\t", "").replace("\n", "").strip()
    parts = urlsplit(normalised)
    return (
        parts.netloc not in ("", "localhost")
        or normalised.startswith("//")
        or parts.scheme not in ("", "http", "https")
    )


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "http:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "https:/evil.example",
        " //evil.example",
        "/\t/evil.example",
        "ftp://evil.example",
        "evil.example",
    ],
)
def test_external_next_is_not_followed(client, auth, target):
    auth.create("alice")
    response = client.post(
        "/login", query_string={"next": target}, data={"username": "alice", "password": PASSWORD}
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    assert not leaves_the_site(location), location
    assert "evil" not in location or location.startswith("/%")


def test_others_cannot_edit_or_delete_a_post(client, auth, data, alice_post):
    post, comment = alice_post
    auth.login("bob")
    for method, path in [
        ("GET", f"/posts/{post.slug}/edit"),
        ("POST", f"/posts/{post.slug}/edit"),
        ("GET", f"/posts/{post.slug}/delete"),
        ("POST", f"/posts/{post.slug}/delete"),
    ]:
        response = client.open(
            path, method=method, data={"title": "Hijacked", "body": "", "status": "published"}
        )
        assert response.status_code == 403, (method, path)
        assert_site_layout(response.get_data(as_text=True))
    for path in [f"/comments/{comment.id}/delete", f"/comments/{comment.id}/approve"]:
        assert client.post(path).status_code == 403, path
    assert data.posts.get(post.id).title == "Alice writes"
    assert data.comments.get(comment.id) is not None
    # bob's own pages do not show alice's post or its controls
    assert "Alice writes" not in client.get("/dashboard").get_data(as_text=True)
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert f"/posts/{post.slug}/edit" not in page
    assert "Delete comment" not in page


def test_the_owner_sees_edit_controls(client, auth, alice_post):
    post, _ = alice_post
    auth.login("alice")
    page = client.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert f'href="/posts/{post.slug}/edit"' in page
    assert f'href="/posts/{post.slug}/delete"' in page
    assert "Delete comment" in page


def test_login_page_has_labelled_fields(client):
    page = client.get("/login").get_data(as_text=True)
    assert '<label for="username">Username</label>' in page
    assert '<label for="password">Password</label>' in page
    assert 'type="password"' in page
