"""Shared fixtures, in the style of Flask's tutorial: app, client, runner, auth.

A real redis-server is started once per test session on a free port in a temporary
directory; every test starts from an empty database.
"""

from __future__ import annotations

import re

import pytest
import redis

from blog import create_app
from devtools.redis_server import RedisServer

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"), persistent=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server) -> str:
    return redis_server.url


@pytest.fixture
def redis_client(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


def make_app(redis_url: str, **overrides):
    config = {"TESTING": True, "APP_ENV": "testing", "REDIS_URL": redis_url,
              "SECRET_KEY": "test-secret-key-not-for-production", "WTF_CSRF_ENABLED": False,
              "COMMENT_MODERATION": False}
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app(redis_url, redis_client):
    return make_app(redis_url)


@pytest.fixture
def csrf_app(redis_url, redis_client):
    """The app with CSRF protection on, as in production."""
    return make_app(redis_url, WTF_CSRF_ENABLED=True)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def data(app):
    return app.extensions["blog_data"]


class AuthActions:
    """Create authors and log in or out as one of them."""

    def __init__(self, app, client) -> None:
        self._app = app
        self._client = client

    def create(self, username: str = "alice", password: str = PASSWORD):
        return self._app.extensions["blog_data"].users.create(username, password)

    def login(self, username: str = "alice", password: str = PASSWORD, create: bool = True):
        if create and self._app.extensions["blog_data"].users.by_username(username) is None:
            self.create(username, password)
        return self._client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self._client.post("/logout")


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or \
        re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def new_post(client, title="Hello", body="Some *text*", tags="", status="published", **extra):
    form = {"title": title, "body": body, "tags": tags, "status": status, **extra}
    return client.post("/posts/new", data=form)
