"""Fetching an imported post's images over http(s), refusing to be a way into the
private network (SSRF).

Every hop (the URL and each redirect) is resolved once; if any address it resolves to is
not a public unicast address (private, loopback, link-local, reserved, multicast...), it
is refused. The connection then goes to the address that was checked, never to a fresh
lookup, so a DNS answer that changes between check and connect (rebinding) gains nothing.
Size and time are bounded: the body is read in pieces, up to `max_bytes`, within
`timeout` seconds in all.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

REDIRECTS = {301, 302, 303, 307, 308}
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
USER_AGENT = "RedisBlog-WordPressImport/1.0"


class FetchError(Exception):
    """The image could not be fetched; the message says why, for the import report."""


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand (Host header unchanged)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to an address checked beforehand; the certificate is checked for the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address = address

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Fetcher:
    max_bytes: int
    timeout: float
    allow_private: bool = False

    def fetch(self, url: str) -> bytes:
        """The body of `url` after at most MAX_REDIRECTS redirects; FetchError if not."""
        deadline = time.monotonic() + self.timeout
        for _ in range(MAX_REDIRECTS + 1):
            response, connection, sock = self._request(url, deadline)
            try:
                if response.status in REDIRECTS and response.getheader("Location"):
                    url = urljoin(url, response.getheader("Location", ""))
                    continue
                if response.status != 200:
                    raise FetchError(f"the server answered {response.status}")
                return self._body(response, sock, deadline)
            finally:
                connection.close()
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")

    def _address(self, host: str, port: int) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise FetchError(f"the host {host!r} was not found") from error
        addresses = [str(info[4][0]) for info in infos]
        if not self.allow_private and not all(_public(a) for a in addresses):
            raise FetchError(f"refused: {host} is a private, loopback or link-local address")
        return addresses[0]

    def _request(
        self, url: str, deadline: float
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection, socket.socket]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError("only http and https URLs are fetched")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = self._address(parts.hostname, port)
        kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
        connection = kind(parts.hostname, port, address, self._left(deadline))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("GET", path, headers={"User-Agent": USER_AGENT})
            sock = connection.sock  # kept: the connection forgets it once it will close
            assert sock is not None
            return connection.getresponse(), connection, sock
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise FetchError(_network_message(error)) from error

    def _body(
        self,
        response: http.client.HTTPResponse,
        sock: socket.socket,
        deadline: float,
    ) -> bytes:
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(f"larger than {self.max_bytes // (1024 * 1024)} MB")
        pieces, size = [], 0
        try:
            # read1: one recv at most, so a server sending a byte at a time still meets
            # the deadline (each wait is bounded by the time left).
            while True:
                sock.settimeout(self._left(deadline))
                chunk = response.read1(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise FetchError(f"larger than {self.max_bytes // (1024 * 1024)} MB")
                pieces.append(chunk)
        except (OSError, http.client.HTTPException) as error:
            raise FetchError(_network_message(error)) from error
        return b"".join(pieces)

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"took longer than {self.timeout:g} s")
        return left


def _network_message(error: Exception) -> str:
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    return f"network error: {error}"
