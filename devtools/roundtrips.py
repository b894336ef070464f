"""Count Redis round trips: one per command sent, one per pipeline (it is sent at once).

Used by the page benchmark and the round-trip tests. The count does not drift with
machine noise, unlike latency.
"""

from __future__ import annotations

import redis
from redis.connection import Connection, UnixDomainSocketConnection


class _Counter:
    round_trips = 0
    commands = 0


def _counting(base: type) -> type:
    class Counting(base):
        counter = _Counter

        def send_packed_command(self, command: object, check_health: bool = True) -> None:
            _Counter.round_trips += 1
            return super().send_packed_command(command, check_health)

        def send_command(self, *args: object, **kwargs: object) -> None:
            _Counter.commands += 1
            return super().send_command(*args, **kwargs)

        def pack_commands(self, commands: list) -> list:
            _Counter.commands += len(commands)  # a pipeline, sent in one go
            return super().pack_commands(commands)

    return Counting


class RoundTripCounter:
    """A redis client whose traffic is counted; `measure()` resets and reads the counts."""

    def __init__(self, url: str) -> None:
        pool = redis.ConnectionPool.from_url(url, decode_responses=True)
        base = UnixDomainSocketConnection if url.startswith("unix://") else Connection
        pool.connection_class = _counting(base)
        self.client = redis.Redis(connection_pool=pool)

    def reset(self) -> None:
        _Counter.round_trips = 0
        _Counter.commands = 0

    @property
    def round_trips(self) -> int:
        return _Counter.round_trips

    @property
    def commands(self) -> int:
        return _Counter.commands
