"""Rate limits kept in Redis, so every web process shares one count.

Comments use fixed windows. Logins are counted *before* the password is checked, in one
Lua script, so parallel guesses cannot all pass a check that none of them has counted
yet (docs/security.md explains the login limits).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from .keys import Keys

LOGIN_ADDRESS = "login-ip"  # the rate-limit action of login attempts per address

# KEYS[1]: the client address's attempt counter for this window; KEYS[2]: the account's
# back-off hash {n: attempts from unknown clients, next: earliest time of the next one}.
# ARGV: now, address limit, free attempts per account, window seconds, longest delay.
# Returns {"ok", 0}, {"address", 0} or {"account", seconds to wait}.
LOGIN_ATTEMPT_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
local from_address = redis.call('INCR', KEYS[1])
if from_address == 1 then redis.call('EXPIRE', KEYS[1], window * 2) end
if from_address > tonumber(ARGV[2]) then return {'address', 0} end
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local next_at = tonumber(redis.call('HGET', KEYS[2], 'next') or '0')
local free = tonumber(ARGV[3])
if n >= free and now < next_at then
  return {'account', tostring(math.ceil(next_at - now))}
end
n = n + 1
if n >= free then
  next_at = now + math.min(2 ^ (n - free + 2), tonumber(ARGV[5]))
end
redis.call('HSET', KEYS[2], 'n', n, 'next', tostring(next_at))
redis.call('EXPIRE', KEYS[2], window)
return {'ok', 0}
"""


# KEYS[1]: the counter the successful attempt was counted in (not re-created if its
# window has passed meanwhile); KEYS[2]: the account's back-off hash, deleted.
LOGIN_REFUND_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECR', KEYS[1]) end
redis.call('DEL', KEYS[2])
return 1
"""


@dataclass(frozen=True)
class LoginVerdict:
    """Whether a login attempt may check its password; if not, who is limited and for
    how long (seconds; 0 when it is the fixed window of an address)."""

    allowed: bool
    limited: str = ""
    wait_seconds: int = 0


class RateLimiter:
    def __init__(self, r: redis.Redis, keys: Keys) -> None:
        self.r = r
        self.keys = keys
        self._login_attempt = r.register_script(LOGIN_ATTEMPT_SCRIPT)
        self._refund = r.register_script(LOGIN_REFUND_SCRIPT)

    def _key(self, action: str, client: str, window_seconds: int) -> str:
        return self.keys.rate(action, client, int(time.time() // window_seconds))

    def hit(self, action: str, client: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one attempt; True while the client is within its limit. 1 round trip."""
        key = self._key(action, client, window_seconds)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, window_seconds * 2)
            count, _ = pipe.execute()
        return count <= limit

    def login_attempt(
        self,
        username: str,
        address: str,
        *,
        address_limit: int,
        account_free: int,
        window_seconds: int,
        max_delay: int,
    ) -> LoginVerdict:
        """Count one login attempt by a client the account does not know, before its
        password is checked; 1 round trip. An address gets `address_limit` attempts per
        window; an account gets `account_free` attempts, then one per back-off delay
        (4, 8, 16... seconds up to `max_delay`), never a hard lock."""
        now = time.time()
        limited, wait = self._login_attempt(
            keys=[
                self._key(LOGIN_ADDRESS, address, window_seconds),
                self.keys.login_backoff(username),
            ],
            args=[now, address_limit, account_free, window_seconds, max_delay],
        )
        limited = limited.decode() if isinstance(limited, bytes) else limited
        if limited == "ok":
            return LoginVerdict(True)
        return LoginVerdict(False, limited, int(wait))

    def login_succeeded(self, username: str, counted: tuple[str, str], window_seconds: int) -> None:
        """The right password ends the account's back-off (only its owner knows it) and
        gives back the attempt it was counted as, (action, client) as counted: only
        failures use up a limit. 1 round trip."""
        action, client = counted
        self._refund(
            keys=[self._key(action, client, window_seconds), self.keys.login_backoff(username)]
        )
