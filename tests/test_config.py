"""Settings come from the environment; a production app refuses to start on weak ones."""

from __future__ import annotations

import pytest
import redis

from blog import create_app
from blog.config import ConfigError, from_environment
from devtools.redis_server import RedisServer
from tests.helpers import add_post, cheap_password_hashing, listed_titles

SETTINGS = [
    "APP_ENV",
    "SECRET_KEY",
    "REDIS_URL",
    "REDIS_TLS_INSECURE",
    "BLOG_TITLE",
    "KEY_PREFIX",
    "COMMENT_MODERATION",
    "POSTS_PER_PAGE",
    "COMMENTS_PER_MINUTE",
    "MAX_UPLOAD_MB",
    "MEDIA_ROOT",
    "S3_BUCKET",
    "S3_PREFIX",
    "S3_ENDPOINT_URL",
    "MEDIA_URL",
]
NO_CSRF = {"WTF_CSRF_ENABLED": False}  # the only override: the rest comes from os.environ
STRONG_KEY = "9f2c4e8a1b7d3f6e0a5c9b2d8e4f1a7c"


@pytest.fixture
def env(monkeypatch, redis_url, tmp_path):
    """A clean environment pointing at the test Redis; tests set the rest."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    for name in from_environment():  # settings added later are cleared too
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("MEDIA_ROOT", str(tmp_path / "media"))
    monkeypatch.setenv("PAGE_CACHE_DIR", str(tmp_path))  # not /dev/shm
    cheap_password_hashing(monkeypatch)
    return monkeypatch


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "dev",
        "changeme",
        "CHANGEME",
        " changeme ",
        "secret",
        "development",
        "short-key-12345",
    ],
)
def test_production_refuses_missing_or_weak_secret_key(env, key):
    env.setenv("APP_ENV", "production")
    if key is not None:
        env.setenv("SECRET_KEY", key)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_is_the_default(env):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_production_starts_with_a_strong_key(env):
    env.setenv("APP_ENV", "production")
    env.setenv("SECRET_KEY", STRONG_KEY)
    app = create_app()
    assert app.config["SECRET_KEY"] == STRONG_KEY
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["MAX_CONTENT_LENGTH"] == 20 * 1024 * 1024 + 65536
    assert app.test_client().get("/").status_code == 200


@pytest.mark.parametrize("app_env", ["development", "testing", " Development "])
def test_development_starts_without_a_key(env, app_env):
    env.setenv("APP_ENV", app_env)
    app = create_app()
    assert len(app.config["SECRET_KEY"]) >= 32
    assert app.config["SESSION_COOKIE_SECURE"] is False  # plain http://localhost works
    assert app.config["SECRET_KEY"] != create_app().config["SECRET_KEY"]  # random each time
    assert app.test_client().get("/").status_code == 200


@pytest.mark.parametrize(
    "name, value",
    [
        ("POSTS_PER_PAGE", "abc"),
        ("POSTS_PER_PAGE", "0"),
        ("POSTS_PER_PAGE", "-5"),
        ("POSTS_PER_PAGE", "101"),
        ("POSTS_PER_PAGE", "2.5"),
        ("COMMENTS_PER_MINUTE", "lots"),
        ("COMMENTS_PER_MINUTE", "0"),
        ("MAX_UPLOAD_MB", "0"),
        ("MAX_IMAGE_PIXELS", "0"),
        ("MAX_IMAGE_PIXELS", "many"),
        ("MAX_IMAGE_PIXELS", "100000000"),  # above Pillow's own bomb limit
        ("PAGE_CACHE_MB", "0"),
        ("PAGE_CACHE_MB", "5000"),
        ("HTTP_CACHE_SECONDS", "-1"),
        ("HTTP_CACHE_SECONDS", "a day"),
        ("HTTP_STALE_SECONDS", "100000"),
    ],
)
def test_bad_numbers_are_refused_by_name(env, name, value):
    env.setenv("APP_ENV", "development")
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=name) as raised:
        create_app()
    assert value.strip() in str(raised.value)


def test_numbers_are_honoured(env, redis_client):
    env.setenv("APP_ENV", "development")
    env.setenv("POSTS_PER_PAGE", " 3 ")
    env.setenv("COMMENTS_PER_MINUTE", "2")
    env.setenv("BLOG_TITLE", "Ops <Notes>")
    app = create_app(NO_CSRF)
    data = app.extensions["blog_data"]
    author = data.users.create("alice", "password123")
    posts = [add_post(data, author, f"P{i}") for i in range(4)]
    client = app.test_client()
    home = client.get("/").get_data(as_text=True)
    assert listed_titles(home) == ["P3", "P2", "P1"]
    assert "<title>Ops &lt;Notes&gt;</title>" in home
    assert client.get("/?page=2").status_code == 200
    codes = [
        client.post(f"/posts/{posts[0].slug}/comments", data={"name": "n", "body": "b"}).status_code
        for _ in range(3)
    ]
    assert codes == [302, 302, 429]


def test_key_prefix_is_honoured_for_every_key(env, redis_client):
    env.setenv("APP_ENV", "development")
    env.setenv("KEY_PREFIX", "myblog:")
    env.setenv("COMMENT_MODERATION", "yes")
    app = create_app(NO_CSRF)
    assert app.config["COMMENT_MODERATION"] is True
    runner = app.test_cli_runner()
    assert (
        runner.invoke(
            args=["create-user", "alice", "--password-stdin"], input="password123\n"
        ).exit_code
        == 0
    )
    client = app.test_client()
    client.post("/login", data={"username": "alice", "password": "password123"})
    client.post(
        "/posts/new",
        data={"title": "Prefixed", "body": "b", "tags": "one, two", "status": "published"},
    )
    client.post("/posts/new", data={"title": "Draft", "body": "b", "status": "draft"})
    client.post("/posts/prefixed/comments", data={"name": "n", "body": "pending"})
    data = app.extensions["blog_data"]
    [pending] = data.comments.pending_for_author(data.users.by_username("alice").id)
    client.post(f"/comments/{pending.id}/approve")
    client.post(
        "/posts/prefixed/edit",
        data={"title": "Renamed", "body": "b", "tags": "three", "status": "published"},
    )
    assert client.get("/posts/renamed").status_code == 200
    assert "pending" in client.get("/posts/renamed").get_data(as_text=True)

    keys = list(redis_client.scan_iter(count=1000))
    assert len(keys) >= 15
    # Post writes enqueue the search indexing job: RQ's own keys are rq:* (docs/data-model.md).
    assert [k for k in keys if not k.startswith(("myblog:", "rq:"))] == []
    for expected in [
        "myblog:users",
        "myblog:slugs",
        "myblog:tags",
        "myblog:posts:published",
        "myblog:tag:three",
        "myblog:ids:post",
    ]:
        assert expected in keys


def test_redis_over_a_unix_socket(env, tmp_path):
    server = RedisServer(tmp_path / "r", persistent=False, unix_socket=True).start()
    try:
        assert server.url.startswith("unix://")
        env.setenv("APP_ENV", "development")
        env.setenv("REDIS_URL", server.url)
        app = create_app(NO_CSRF)
        client = app.test_client()
        app.extensions["blog_data"].users.create("alice", "password123")
        client.post("/login", data={"username": "alice", "password": "password123"})
        response = client.post(
            "/posts/new", data={"title": "Via socket", "body": "b", "status": "published"}
        )
        assert response.status_code == 302
        assert "Via socket" in client.get("/").get_data(as_text=True)
        direct = redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True)
        assert direct.hget("blog:slugs", "via-socket") is not None
        direct.close()
    finally:
        server.stop()
