"""Fetching imported images: a real local HTTP server; private addresses refused, also
behind a redirect and a host name; size and time limits."""

from __future__ import annotations

import time

import pytest

from blog.imports import fetch
from blog.imports.fetch import Fetcher, FetchError
from tests.import_helpers import GPS_JPEG, image_server

MB = 1024 * 1024


def test_fetches_an_image_when_private_hosts_are_allowed():
    with image_server() as server:
        assert Fetcher(MB * 5, 10, allow_private=True).fetch(f"{server.url}/photo.jpg") == GPS_JPEG


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.jpg",
        "http://localhost:9/x.jpg",  # a name that resolves to loopback
        "http://10.1.2.3/x.jpg",
        "http://192.168.0.1/x.jpg",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata (link-local)
        "http://[::1]:9/x.jpg",
        "http://[::ffff:127.0.0.1]:9/x.jpg",
        "http://0.0.0.0:9/x.jpg",
    ],
)
def test_private_addresses_refused(url):
    with pytest.raises(FetchError, match="private, loopback or link-local"):
        Fetcher(MB, 5).fetch(url)


def test_redirect_to_a_private_address_refused(monkeypatch):
    """127.0.0.1 plays a public server here (patched); it redirects to 127.0.0.2, which
    stays what it is (loopback): the redirect's target is checked and refused."""
    real = fetch._public
    monkeypatch.setattr(fetch, "_public", lambda a: a == "127.0.0.1" or real(a))
    with image_server() as server:
        port = server.url.rsplit(":", 1)[1]
        with pytest.raises(FetchError, match="private"):
            Fetcher(MB, 5).fetch(f"{server.url}/to/http://127.0.0.2:{port}/photo.jpg")
        assert server.hits == [f"/to/http://127.0.0.2:{port}/photo.jpg"]  # never reached
        # The same redirect to a "public" address is followed.
        assert Fetcher(MB, 5).fetch(f"{server.url}/to/{server.url}/photo.jpg") == GPS_JPEG


def test_too_large_refused():
    with image_server() as server, pytest.raises(FetchError, match="larger than 1 MB"):
        Fetcher(MB, 10, allow_private=True).fetch(f"{server.url}/big.jpg")


def test_slow_server_times_out():
    with image_server() as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="timed out|took longer"):
            Fetcher(MB, 1, allow_private=True).fetch(f"{server.url}/slow.jpg")
        assert time.monotonic() - started < 5


def test_only_http_and_https():
    with pytest.raises(FetchError, match="only http and https"):
        Fetcher(MB, 1).fetch("file:///etc/passwd")


def test_missing_image_reports_status():
    with image_server() as server, pytest.raises(FetchError, match="answered 404"):
        Fetcher(MB, 5, allow_private=True).fetch(f"{server.url}/nope.jpg")
