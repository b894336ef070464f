"""Sliding-window rate limits kept in Redis, so every web process shares one count.

Each (action, client) has a sorted set of its recent attempts scored by time: a limit of
N per window allows N attempts in *any* window-long span, with no burst of 2N across a
fixed window's boundary (and tests do not depend on where the wall clock's minute falls).

Logins are counted *before* the password is checked, in one Lua script, so parallel
guesses cannot all pass a check that none of them has counted yet (docs/security.md).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from .keys import Keys
from .scripts import Script

LOGIN_ADDRESS = "login-ip"  # the rate-limit action of login attempts per address

# KEYS[1]: the client address's sliding window (as _HIT); KEYS[2]: the account's
# back-off hash {n: attempts from unknown clients, next: earliest time of the next one}.
# ARGV: now, address limit, free attempts per account, window seconds, longest delay,
# the attempt's member.
# Returns {"ok", 0}, {"address", 0} or {"account", seconds to wait}.
# The shebang makes Redis refuse the whole script up front when it is full (noeviction at
# maxmemory): without it, a script whose first write only removes (ZREMRANGEBYSCORE) may
# go on writing past the limit.
LOGIN_ATTEMPT_SCRIPT = """#!lua
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - window))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return {'address', 0} end
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('PEXPIRE', KEYS[1], window * 1000)
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


# KEYS[1]: the window the successful attempt was counted in (its newest attempt is
# taken back); KEYS[2]: the account's back-off hash, deleted.
LOGIN_REFUND_SCRIPT = """
redis.call('ZPOPMAX', KEYS[1])
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


# Forget attempts older than the window, then count one if the client is within its limit.
_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""


class RateLimiter:
    def __init__(self, r: redis.Redis, keys: Keys, clock: Callable[[], float] = time.time) -> None:
        self.r = r
        self.keys = keys
        self.clock = clock
        self._hit = Script(r, _HIT)
        self._login_attempt = Script(r, LOGIN_ATTEMPT_SCRIPT)
        self._refund = Script(r, LOGIN_REFUND_SCRIPT)

    def hit(self, action: str, client: str, limit: int, window_seconds: int = 60) -> bool:
        """Count one attempt; True while the client is within its limit (a refused
        attempt is not counted). 1 round trip."""
        now = self.clock()
        key = self.keys.rate(action, client)
        return bool(self._hit(keys=[key], args=[now, window_seconds, limit, _member(now)]))

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
        now = self.clock()
        limited, wait = self._login_attempt(
            keys=[self.keys.rate(LOGIN_ADDRESS, address), self.keys.login_backoff(username)],
            args=[now, address_limit, account_free, window_seconds, max_delay, _member(now)],
        )
        limited = limited.decode() if isinstance(limited, bytes) else limited
        if limited == "ok":
            return LoginVerdict(True)
        return LoginVerdict(False, limited, int(wait))

    def login_succeeded(self, username: str, counted: tuple[str, str]) -> None:
        """The right password ends the account's back-off (only its owner knows it) and
        gives back the attempt it was counted as, (action, client) as counted: only
        failures use up a limit. 1 round trip."""
        action, client = counted
        self._refund(keys=[self.keys.rate(action, client), self.keys.login_backoff(username)])


def _member(now: float) -> str:
    """Unique per attempt: two attempts in the same microsecond both count."""
    return f"{now:.6f}:{secrets.token_hex(4)}"
