"""Helpers for the WordPress import tests: a local HTTP server for images (good, too
large, slow, redirecting) and fixture files with its address filled in."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.helpers import FIXTURES

WXR = FIXTURES / "wordpress"
GPS_JPEG = (FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg").read_bytes()


@dataclass
class ImageServer:
    """Serves /photo.jpg (a camera JPEG with GPS), /big.jpg (past any limit), /slow.jpg
    (a byte every 0.2 s), /to/<url> (302 to <url>); anything else 404. Counts hits."""

    url: str = ""
    hits: list[str] = field(default_factory=list)
    big_bytes: int = 3 * 1024 * 1024


def _handler(state: ImageServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            state.hits.append(self.path)
            if self.path.startswith("/to/"):
                self.send_response(302)
                self.send_header("Location", self.path[len("/to/") :])
                self.end_headers()
            elif self.path == "/photo.jpg":
                self._send(GPS_JPEG)
            elif self.path == "/big.jpg":
                self._send(b"\xff\xd8\xff" + b"\0" * state.big_bytes)
            elif self.path == "/slow.jpg":
                self.send_response(200)
                self.send_header("Content-Length", str(len(GPS_JPEG)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    for i in range(0, len(GPS_JPEG), 4096):
                        self.wfile.write(GPS_JPEG[i : i + 4096])
                        self.wfile.flush()
                        time.sleep(0.2)
            else:
                self.send_error(404)

        def _send(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def image_server() -> Iterator[ImageServer]:
    state = ImageServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def fixture_file(name: str, tmp_path: Path, **replace: str) -> Path:
    """A copy of tests/fixtures/wordpress/<name> with placeholders (IMAGES_BASE,
    EXTERNAL_URL) replaced."""
    text = (WXR / name).read_text(encoding="utf-8")
    for placeholder, value in replace.items():
        text = text.replace(placeholder, value)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
