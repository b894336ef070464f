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

    def all_ids(self) -> list[int]:
        """Every author's id (a blog has few authors)."""
        return sorted(int(i) for i in self.r.hvals(self.keys.usernames))

    def by_username(self, username: str) -> User | None:
        user_id = self.r.hget(self.keys.usernames, username.lower())
        return self.get(int(user_id)) if user_id else None

    def get(self, user_id: int) -> User | None:
        h = cast("dict[str, str]", self.r.hgetall(self.keys.user(user_id)))
        return User.from_hash(h) if h else None

    def by_login(self, login: str) -> User | None:
        """An author by username, or by email address (authors are few: a scan is fine)."""
        if "@" not in login:
            return self.by_username(login)
        ids = self.r.hvals(self.keys.usernames)
        pipe = self.r.pipeline(transaction=False)
        for user_id in ids:
            pipe.hgetall(self.keys.user(int(user_id)))
        for h in pipe.execute():
            if h and h.get("email") and h["email"] == login.strip().lower():
                return User.from_hash(h)
        return None

    def set_email(self, user_id: int, email: str) -> None:
        self.r.hset(self.keys.user(user_id), "email", email)

    def set_password(self, user_id: int, password: str) -> None:
        """A new password hash. Callers then `revoke_sessions` (password change, reset)."""
        password_hash = generate_password_hash(password, method="scrypt")
        self.r.hset(self.keys.user(user_id), "password_hash", password_hash)

    def revoke_sessions(self, user_id: int) -> None:
        """Log the author out everywhere: sessions carry the epoch they were made at and
        `load_logged_in_user` refuses older ones."""
        self.r.hincrby(self.keys.user(user_id), "session_epoch", 1)

    def session_epoch(self, user_id: int) -> int | None:
        """None when the author no longer exists."""
        epoch, username = self.r.hmget(self.keys.user(user_id), "session_epoch", "username")
        return int(epoch or 0) if username else None

    def create(self, username: str, password: str, email: str = "") -> User:
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
                    "email": email,
                    "created_at": time.time(),
                },
            )

        self.r.transaction(write, keys.usernames)
        return User(user_id, username, password_hash, email)

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.by_username(username)
        if user and check_password_hash(user.password_hash, password):
            return user
        return None
