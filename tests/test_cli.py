"""`flask --app app create-user NAME`: the only way authors come into being."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD = "a-good-password"


def create(runner, name, password=GOOD, confirm=None):
    confirm = password if confirm is None else confirm
    return runner.invoke(args=["create-user", name], input=f"{password}\n{confirm}\n")


def test_create_user_asks_password_twice_and_stores_scrypt_hash(runner, data, redis_client):
    result = create(runner, "bob")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "Repeat for confirmation" in result.output
    assert "Created author 'bob'" in result.output
    assert GOOD not in result.output  # hidden input is not echoed

    user = data.users.by_username("bob")
    stored = redis_client.hget(data.keys.user(user.id), "password_hash")
    assert stored.startswith("scrypt:")
    assert GOOD not in str(redis_client.hgetall(data.keys.user(user.id)))
    assert data.users.authenticate("bob", GOOD) == user
    assert data.users.authenticate("bob", GOOD + "x") is None


def test_password_stdin_reads_one_line_without_prompting(runner, data):
    result = runner.invoke(
        args=["create-user", "carol", "--password-stdin"], input="from standard input\n"
    )
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output
    assert data.users.authenticate("carol", "from standard input") is not None


def test_mismatched_confirmation_creates_nobody(runner, data):
    result = create(runner, "bob", "aaaaaaaa", confirm="bbbbbbbb")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert data.users.count() == 0


@pytest.mark.parametrize(
    "name",
    ["", " ", "a" * 41, "bad name", "bad/name", "ümlaut", "semi;colon", "tab\tname", "émile"],
)
def test_bad_names_are_refused_with_the_rule(runner, data, name):
    result = create(runner, name)
    assert result.exit_code == 2, result.output
    assert "1-40 characters" in result.output
    assert "a-z" in result.output
    assert data.users.count() == 0


@pytest.mark.parametrize(
    "name, stored", [("a", "a"), ("a" * 40, "a" * 40), ("a.b_c-9", "a.b_c-9"), ("Bob", "bob")]
)
def test_good_names_at_the_limits(runner, data, name, stored):
    result = create(runner, name)
    assert result.exit_code == 0, result.output
    assert data.users.by_username(stored).username == stored


@pytest.mark.parametrize("password", ["", "short77", "x" * 201])
def test_bad_passwords_are_refused_with_the_rule(runner, data, password):
    result = runner.invoke(args=["create-user", "bob", "--password-stdin"], input=password + "\n")
    assert result.exit_code != 0
    assert "8 to 200 characters" in result.output
    assert data.users.count() == 0


def test_short_password_at_the_prompt_is_refused(runner, data):
    result = create(runner, "bob", "short77")
    assert result.exit_code != 0
    assert "8 to 200 characters" in result.output
    assert data.users.count() == 0


@pytest.mark.parametrize("password", ["x" * 8, "x" * 200, "pässwört mit Leerzeichen"])
def test_passwords_at_the_limits_work(runner, data, password):
    assert create(runner, "bob", password).exit_code == 0
    assert data.users.authenticate("bob", password) is not None


@pytest.mark.parametrize("second", ["bob", "BOB", " bob "])
def test_duplicate_name_is_refused(runner, data, second):
    assert create(runner, "bob").exit_code == 0
    result = create(runner, second, "another-password")
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert data.users.count() == 1
    assert data.users.authenticate("bob", GOOD) is not None  # first password unchanged


def test_created_author_can_log_in(runner, client):
    assert create(runner, "dora").exit_code == 0
    response = client.post("/login", data={"username": "dora", "password": GOOD})
    assert response.status_code == 302
    assert "Log out dora" in client.get("/").get_data(as_text=True)


def test_real_flask_command(redis_url, redis_client, tmp_path):
    """The documented entry point, as a separate process reading its settings from the
    environment: `flask --app app create-user NAME --password-stdin`."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "APP_ENV": "development",
        "KEY_PREFIX": "blog:",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    env.pop("SECRET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "create-user", "eve", "--password-stdin"],
        input="eve's long password\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Created author 'eve'" in done.stdout
    user_id = redis_client.hget("blog:users", "eve")
    assert redis_client.hget(f"blog:user:{user_id}", "password_hash").startswith("scrypt:")
