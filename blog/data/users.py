"""Authors: a hash each plus a username -> id index; passwords are stored as scrypt hashes."""

from __future__ import annotations

import time
from typing import cast

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from .keys import Keys
from .models import User


class UsernameTaken(ValueError):
    pass


class UserStore:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys

    def count(self) -> int:
        return self.r.hlen(self.keys.usernames)

    def by_username(self, username: str) -> User | None:
        user_id = self.r.hget(self.keys.usernames, username.lower())
        return self.get(int(user_id)) if user_id else None

    def get(self, user_id: int) -> User | None:
        h = cast("dict[str, str]", self.r.hgetall(self.keys.user(user_id)))
        return User.from_hash(h) if h else None

    def create(self, username: str, password: str) -> User:
        """Create an author; usernames are unique case-insensitively (HSETNX decides)."""
        keys = self.keys
        username = username.lower()
        password_hash = generate_password_hash(password, method="scrypt")
        user_id = self.r.incr(keys.next_id("user"))

        def write(pipe: redis.client.Pipeline) -> None:
            # Owned by this very id: a retry after EXEC ran but its reply was lost.
            owner = pipe.hget(keys.usernames, username)
            if owner is not None and int(owner) != user_id:
                raise UsernameTaken(username)
            pipe.multi()
            pipe.hset(keys.usernames, username, user_id)
            pipe.hset(
                keys.user(user_id),
                mapping={
                    "id": user_id,
                    "username": username,
                    "password_hash": password_hash,
                    "created_at": time.time(),
                },
            )

        self.r.transaction(write, keys.usernames)
        return User(user_id, username, password_hash)

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.by_username(username)
        if user and check_password_hash(user.password_hash, password):
            return user
        return None
