"""Authors: a hash each plus a username -> id index; passwords are stored as scrypt hashes."""

from __future__ import annotations

import secrets
import time
from typing import cast

import redis
from werkzeug.security import check_password_hash, generate_password_hash

from .keys import Keys
from .models import User


class UsernameTaken(ValueError):
    pass


# Sessions an author may hold at once (browsers, devices); the oldest make room.
MAX_SESSIONS = 50


class UserStore:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._dummy_hash: str | None = None

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
        """The author, if the password is theirs. An unknown name costs the same scrypt
        work as a wrong password, so the answer time does not tell which names exist."""
        user = self.by_username(username)
        if user is None:
            check_password_hash(self._dummy_password_hash(), password)
            return None
        return user if check_password_hash(user.password_hash, password) else None

    def _dummy_password_hash(self) -> str:
        # Made with the same function (and so the same scrypt cost) as real hashes.
        if self._dummy_hash is None:
            self._dummy_hash = generate_password_hash(secrets.token_hex(16), method="scrypt")
        return self._dummy_hash

    # ---- login sessions: a random id per login, kept in a sorted set scored by expiry --

    def open_session(self, user_id: int, lifetime_seconds: int) -> str:
        """Record a new login session and return its id (goes in the signed cookie)."""
        session_id = secrets.token_urlsafe(24)
        key = self.keys.user_sessions(user_id)
        now = time.time()
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now)  # expired ones
            pipe.zadd(key, {session_id: now + lifetime_seconds})
            pipe.zremrangebyrank(key, 0, -MAX_SESSIONS - 1)
            pipe.expire(key, lifetime_seconds)
            pipe.execute()
        return session_id

    def session_alive(self, user_id: int, session_id: str) -> bool:
        """Whether this login session is still valid: not logged out, not revoked, not
        expired. One round trip, made on author requests only."""
        expires_at = self.r.zscore(self.keys.user_sessions(user_id), session_id)
        return expires_at is not None and expires_at > time.time()

    def close_session(self, user_id: int, session_id: str) -> None:
        """Log out: this session ends on every copy of its cookie."""
        self.r.zrem(self.keys.user_sessions(user_id), session_id)

    def revoke_sessions(self, user_id: int) -> None:
        """End every login session of this author at once (log out everywhere, password
        change or reset): every cookie issued so far stops working on its next request."""
        self.r.delete(self.keys.user_sessions(user_id))
