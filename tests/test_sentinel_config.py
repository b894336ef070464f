"""Sentinel settings from the environment, the settings rq's worker reads, and the
replica confirmation (REDIS_WAIT_REPLICAS) on a Redis without replicas.

The failover itself, with real sentinels, is tests/test_failover.py."""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

import pytest
from redis.sentinel import SentinelConnectionPool

from blog.config import ConfigError, from_environment, parse_sentinels
from blog.data import NotReplicated, SentinelSettings, connect
from blog.data.connection import rq_sentinel_settings
from tests.helpers import add_post, make_app


def fresh_rq_settings(monkeypatch) -> ModuleType:
    """jobs.rq_settings as `rq worker -c` would import it under this environment."""
    monkeypatch.delitem(sys.modules, "jobs.rq_settings", raising=False)
    return importlib.import_module("jobs.rq_settings")


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", []),
        ("10.0.0.5:26379", [("10.0.0.5", 26379)]),
        (" a:1 , b:2,c:65535 ", [("a", 1), ("b", 2), ("c", 65535)]),
        ("[::1]:26379", [("::1", 26379)]),
        ("a:1,,", [("a", 1)]),
    ],
)
def test_sentinels_are_parsed(raw, parsed):
    assert parse_sentinels(raw) == parsed


@pytest.mark.parametrize("raw", ["a", "a:", ":1", "a:0", "a:65536", "a:x", "a:1,b"])
def test_bad_sentinels_are_refused_with_the_variable_named(raw):
    with pytest.raises(ConfigError, match="REDIS_SENTINELS must be a comma-separated list"):
        parse_sentinels(raw)


def test_at_most_16_sentinels():
    with pytest.raises(ConfigError, match="lists 17 sentinels; at most 16"):
        parse_sentinels(",".join(f"h{i}:1" for i in range(17)))


def test_environment_turns_sentinel_on(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "rediss://user:node-secret@ignored:1/3")
    monkeypatch.setenv("REDIS_SENTINELS", "s1:26379,s2:26380")
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "blog")
    monkeypatch.setenv("REDIS_SENTINEL_PASSWORD", "sentinel-secret")
    config = from_environment()
    sentinel = SentinelSettings.from_config(config)
    assert sentinel == SentinelSettings((("s1", 26379), ("s2", 26380)), "blog", "sentinel-secret")

    client = connect(config["REDIS_URL"], sentinel)  # nothing is contacted yet
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == "blog"
    kwargs = pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("user", "node-secret", 3)
    assert kwargs["decode_responses"] is True
    assert (
        connect(config["REDIS_URL"], sentinel, decode=False).connection_pool.connection_kwargs[
            "decode_responses"
        ]
        is False
    )

    # rq's worker reads REDIS_URL first: with sentinels the settings module has none.
    settings = fresh_rq_settings(monkeypatch)
    assert not hasattr(settings, "REDIS_URL")
    rq = settings.SENTINEL
    assert rq == rq_sentinel_settings(config["REDIS_URL"], sentinel)
    assert rq["INSTANCES"] == [("s1", 26379), ("s2", 26380)]
    assert rq["MASTER_NAME"] == "blog"
    assert (rq["PASSWORD"], rq["DB"], rq["SSL"]) == ("node-secret", 3, True)
    assert rq["SENTINEL_KWARGS"]["password"] == "sentinel-secret"


def test_without_sentinels_rq_gets_the_url(monkeypatch, redis_url):
    monkeypatch.delenv("REDIS_SENTINELS", raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    settings = fresh_rq_settings(monkeypatch)
    url = settings.REDIS_URL
    # Issue 9: the worker's client gives up connecting after 5 s (docs/security.md).
    assert url == redis_url + "?socket_connect_timeout=5" and not hasattr(settings, "SENTINEL")
    assert SentinelSettings.from_config(from_environment()) is None


@pytest.mark.parametrize("value", ["-1", "11", "one"])
def test_wait_replicas_has_limits(monkeypatch, value):
    monkeypatch.setenv("REDIS_WAIT_REPLICAS", value)
    with pytest.raises(ConfigError, match="REDIS_WAIT_REPLICAS"):
        from_environment()


def test_unconfirmed_comment_is_a_503_not_a_success(redis_url, redis_client, media_root):
    """The suite's Redis has no replica: with REDIS_WAIT_REPLICAS=1 no write is ever
    confirmed, so the visitor must not be told the comment is saved."""
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), REDIS_WAIT_REPLICAS=1)
    data = app.extensions["blog_data"]
    with pytest.raises(NotReplicated, match="0 of 1 replicas confirmed"):
        data.confirm_saved()
    post = add_post(data, data.users.create("alice", "a long password"), title="Waiting")
    answer = app.test_client().post(
        f"/posts/{post.slug}/comments", data={"name": "Ann", "body": "Is it saved?"}
    )
    assert answer.status_code == 503
    assert "try again" in answer.get_data(as_text=True).lower()
    make_app(redis_url, MEDIA_ROOT=str(media_root)).extensions["blog_data"].confirm_saved()
