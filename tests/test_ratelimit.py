"""The sliding-window rate limiter: N attempts in any window-long span, whatever the
wall clock's minute (a fixed window allowed 2N across its boundary)."""

from __future__ import annotations

from blog.data.keys import Keys
from blog.data.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limiter(redis_client, start: float) -> tuple[RateLimiter, Clock]:
    clock = Clock(start)
    return RateLimiter(redis_client, Keys("blog:"), clock=clock), clock


def test_no_burst_across_a_minute_boundary(redis_client):
    # 12:00:59 and 12:01:00 fall in two fixed windows; the sliding one sees both.
    limits, clock = limiter(redis_client, 1_700_000_099.0)  # 59 s into a minute
    assert [limits.hit("comment", "1.2.3.4", 2) for _ in range(2)] == [True, True]
    clock.now += 1.5  # the next minute has begun
    assert limits.hit("comment", "1.2.3.4", 2) is False
    clock.now += 58.0  # 59.5 s after the first two: still within their window
    assert limits.hit("comment", "1.2.3.4", 2) is False
    clock.now += 0.6  # 60.1 s: both have left the window
    assert limits.hit("comment", "1.2.3.4", 2) is True


def test_refused_attempts_are_not_counted(redis_client):
    limits, clock = limiter(redis_client, 1_000.0)
    assert limits.hit("preview", "7", 1, window_seconds=10)
    for _ in range(50):
        assert not limits.hit("preview", "7", 1, window_seconds=10)
    assert redis_client.zcard("blog:rate:preview:7") == 1
    assert 0 < redis_client.ttl("blog:rate:preview:7") <= 10
    clock.now += 10.01
    assert limits.hit("preview", "7", 1, window_seconds=10)


def test_clients_and_actions_are_counted_apart(redis_client):
    limits, _ = limiter(redis_client, 5_000.0)
    assert limits.hit("comment", "a", 1)
    assert limits.hit("comment", "b", 1)
    assert limits.hit("preview", "a", 1)
    assert not limits.hit("comment", "a", 1)


def test_failed_logins_slide_too(redis_client):
    limits, clock = limiter(redis_client, 10_000.0)
    checks = [("login-account", "alice", 3), ("login-ip", "1.2.3.4", 10)]
    for _ in range(3):
        assert not limits.exhausted(checks, 900)
        limits.hit_all(checks, 900)
        clock.now += 100
    assert limits.exhausted(checks, 900)
    clock.now += 900 - 300 + 1  # the first failure has left the 15 minutes
    assert not limits.exhausted(checks, 900)
