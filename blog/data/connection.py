"""The one place every process gets its Redis client: web, worker, scheduler, dashboard,
release and the command line.

Plain Redis: `REDIS_URL`. With Redis Sentinel (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`,
optional `REDIS_SENTINEL_PASSWORD`) the client asks the sentinels for the current primary
on every new connection, so after a failover the next command reaches the new primary
without a restart; `REDIS_URL` then only supplies the data nodes' username, password,
database and TLS (its host and port are not used). `rq worker` builds its client itself
from `jobs.rq_settings`, which gets the same values from `rq_sentinel_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.connection import SSLConnection, parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel

# A primary that died mid-connection must not hang a request: fail fast, ask the
# sentinels again on the next try. (Blocking commands are rq's own, on its own client.)
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
# Sentinels answer "who is the primary?" from memory; one that hangs is skipped quickly.
SENTINEL_TIMEOUT = 1.0
# A failover takes the sentinels' down-after-milliseconds plus an election and a
# promotion (roughly 7 s with the 5,000 ms of docs/deploy.md). A command that meets a dead
# or demoted primary reconnects - asking the sentinels again - for about 20 s before it
# fails: rq's worker dies on a Redis error while it watches a job, and a web request
# would rather wait a few seconds than fail.
FAILOVER_RETRIES = 22  # after 0.2, 0.4 and 0.8 s, then 1 s apart


def failover_retry() -> Retry:
    return Retry(ExponentialBackoff(cap=1.0, base=0.1), FAILOVER_RETRIES)


@dataclass(frozen=True)
class SentinelSettings:
    """Where the sentinels are and which monitored primary is the blog's."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    password: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SentinelSettings | None:
        sentinels = tuple(config.get("REDIS_SENTINELS") or ())
        if not sentinels:
            return None
        return cls(
            sentinels,
            config["REDIS_SENTINEL_MASTER"],
            config.get("REDIS_SENTINEL_PASSWORD") or None,
        )


def _node_kwargs(url: str) -> dict[str, Any]:
    """Credentials, database and TLS of the data nodes, from REDIS_URL."""
    kwargs = parse_url(url)
    for where in ("host", "port", "path", "unix_socket_path"):
        kwargs.pop(where, None)
    if kwargs.pop("connection_class", None) is SSLConnection:
        kwargs["ssl"] = True
    return kwargs


def sentinel_client(url: str, sentinel: SentinelSettings, *, decode: bool) -> redis.Redis:
    sentinels = Sentinel(
        list(sentinel.sentinels),
        sentinel_kwargs={
            "password": sentinel.password,
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=CONNECT_TIMEOUT,
        retry=failover_retry(),
        **_node_kwargs(url),
    )
    return sentinels.master_for(sentinel.master, decode_responses=decode, health_check_interval=30)


def connect(
    url: str,
    sentinel: SentinelSettings | None = None,
    *,
    decode: bool = True,
    timeout: float | None = None,
) -> redis.Redis:
    """A client for redis://, rediss:// (TLS) or unix:// URLs, or for the primary the
    sentinels name. The data layer decodes replies to str; RQ needs bytes (decode=False).
    `timeout` (plain Redis): seconds to connect and to wait for each answer, so a hung
    Redis raises redis.TimeoutError instead of blocking its caller (docs/security.md);
    with Sentinel, SOCKET_TIMEOUT and the failover retries above apply."""
    if sentinel is not None:
        return sentinel_client(url, sentinel, decode=decode)
    return redis.Redis.from_url(
        url,
        decode_responses=decode,
        health_check_interval=30,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
    )


def rq_sentinel_settings(url: str, sentinel: SentinelSettings) -> dict[str, Any]:
    """The SENTINEL dict that `rq worker -c jobs.rq_settings` reads (rq.cli.helpers)."""
    node = _node_kwargs(url)
    return {
        "INSTANCES": list(sentinel.sentinels),
        "MASTER_NAME": sentinel.master,
        "DB": node.pop("db", 0),
        "USERNAME": node.pop("username", None),
        "PASSWORD": node.pop("password", None),
        "SSL": node.pop("ssl", False),
        "SOCKET_TIMEOUT": None,  # rq blocks on the queues itself, with its own timeouts
        "CONNECTION_KWARGS": {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "retry": failover_retry(),
            **node,
        },
        "SENTINEL_KWARGS": {
            "password": sentinel.password,
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
        },
    }
