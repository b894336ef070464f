"""`flask --app app release`: the checks a deploy runs before new code takes traffic."""

from __future__ import annotations

import pytest

from tests.helpers import add_post, make_app


def test_release_checks_redis_and_registers_the_schedule(runner):
    result = runner.invoke(args=["release"])
    assert result.exit_code == 0, result.output
    assert "redis: ok" in result.output and "media storage: ok" in result.output
    assert "backup schedule '0 3 * * *' (UTC) registered" in result.output
    assert "export cleanup '17 * * * *' registered" in result.output
    again = runner.invoke(args=["release"])
    assert "(UTC) unchanged" in again.output  # a second deploy keeps the one job
    assert "export cleanup '17 * * * *' unchanged" in again.output


def test_release_writes_the_cards_of_posts_saved_before_cards(runner, data, auth):
    author = auth.create("alice")
    posts = [add_post(data, author, f"Post {n}") for n in range(3)]
    data.redis.delete(data.keys.post_card(posts[0].id), data.keys.post_card(posts[2].id))
    data.posts.delete(posts[1])  # a deleted post gets no card
    result = runner.invoke(args=["release"])
    assert result.exit_code == 0 and "listing cards: 2 written" in result.output
    assert (
        data.redis.exists(data.keys.post_card(posts[0].id), data.keys.post_card(posts[2].id)) == 2
    )
    assert not data.redis.exists(data.keys.post_card(posts[1].id))
    assert "listing cards: ok" in runner.invoke(args=["release"]).output


@pytest.fixture
def evicting_redis(redis_client):
    redis_client.config_set("maxmemory-policy", "allkeys-lru")
    yield
    redis_client.config_set("maxmemory-policy", "noeviction")


def test_release_refuses_a_redis_that_evicts(runner, evicting_redis):
    result = runner.invoke(args=["release"])
    assert result.exit_code == 1
    assert "maxmemory-policy is 'allkeys-lru'" in result.output
    assert "noeviction" in result.output


def test_release_refuses_a_missing_bucket(redis_url, redis_client, s3_settings, media_root):
    app = make_app(
        redis_url, MEDIA_ROOT=str(media_root), **{**s3_settings, "S3_BUCKET": "no-such-bucket"}
    )
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 1
    assert "redis: ok" in result.output and "media storage: ok" not in result.output
    assert "media bucket 'no-such-bucket' is not usable" in result.output


def test_release_warns_when_production_has_no_site_url(redis_url, redis_client, media_root):
    """Issue 9: without SITE_URL, absolute links follow the request's host."""
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), APP_ENV="production")
    result = app.test_cli_runner().invoke(args=["release"])
    assert result.exit_code == 0, result.output
    assert "warning: SITE_URL is not set" in result.output
    app = make_app(
        redis_url, MEDIA_ROOT=str(media_root), APP_ENV="production", SITE_URL="https://b.example"
    )
    assert "SITE_URL" not in app.test_cli_runner().invoke(args=["release"]).output
