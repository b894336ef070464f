"""Helpers and constants shared by the tests (fixtures stay in conftest.py, which
imports from here; tests import from here, never from conftest.py)."""

from __future__ import annotations

import contextlib
import html
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path

import psutil
from redis.connection import Connection
from werkzeug.security import generate_password_hash

from blog import create_app
from blog.data import DataLayer, PostInput
from devtools.roundtrips import RoundTripCounter

PASSWORD = "correct horse battery"
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
RQ = str(Path(sys.executable).parent / "rq")

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

SUMMARY_TITLE = re.compile(r'<article class="summary">\s*<h2><a href="([^"]+)">([^<]*)</a>')


def cheap_password_hashing(monkeypatch) -> None:
    """Still scrypt (the stored hash starts with "scrypt:"), at a cost that lets a test
    log in in a millisecond instead of a tenth of a second. Tests of hashing itself
    do not use this."""
    import blog.data.users as users

    def fast(password: str, method: str = "scrypt") -> str:
        assert method == "scrypt"
        return generate_password_hash(password, method="scrypt:1024:8:1")

    monkeypatch.setattr(users, "generate_password_hash", fast)


def add_post(
    data, author, title="Hello", body="Some *text*", tags=(), status="published", publish_at=None
):
    """A post written straight through the data layer; `author` is a User."""
    return data.posts.create(
        author.id,
        author.username,
        PostInput(title=title, body=body, tags=list(tags), status=status, publish_at=publish_at),
    )


def listed_titles(page_html: str) -> list[str]:
    """Titles of the post summaries on a listing page, top to bottom."""
    return [html.unescape(title) for _, title in SUMMARY_TITLE.findall(page_html)]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self._label_for: str | None = None
        self.labels: dict[str, str] = {}  # label text -> for
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "label":
            self._label_for = dict(attrs).get("for")
            self._text = []

    def handle_data(self, data):
        if self._label_for is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "label" and self._label_for is not None:
            self.labels["".join(self._text).strip()] = self._label_for
            self._label_for = None


def elements(page_html: str) -> list[tuple[str, dict[str, str | None]]]:
    """(tag, attributes) of every start tag, in document order."""
    parser = _Elements()
    parser.feed(page_html)
    parser.close()
    return parser.elements


def labels(page_html: str) -> dict[str, str]:
    """Visible label text -> the id it labels."""
    parser = _Elements()
    parser.feed(page_html)
    parser.close()
    return parser.labels


def assert_site_layout(page_html: str) -> None:
    """The page is wrapped in the site layout: header with brand and main navigation."""
    assert '<header class="site">' in page_html
    assert '<a class="brand" href="/">' in page_html
    assert '<nav aria-label="Main">' in page_html
    assert 'href="/tags">Tags</a>' in page_html
    assert '<footer class="site">' in page_html


def count_round_trips(app, redis_url: str):
    """Give the app a data layer whose Redis client counts round trips and commands;
    connected first, so the handshake is not counted. Returns the RoundTripCounter."""
    counter = RoundTripCounter(redis_url)
    counter.client.ping()
    counter.reset()
    app.extensions["blog_data"] = DataLayer(counter.client, app.config["KEY_PREFIX"])
    return counter


def make_app(redis_url: str, **overrides):
    config = {
        "TESTING": True,
        "APP_ENV": "testing",
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "WTF_CSRF_ENABLED": False,
        "COMMENT_MODERATION": False,
        # Pages shared between processes live as long as their server (here pytest, for
        # every test): only the tests about sharing turn it on, in their own directory.
        "PAGE_CACHE_DIR": "",
    }
    config.update(overrides)
    return create_app(config)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html
    )
    assert match, "no CSRF token in page"
    return match.group(1)


def login_with_token(client, username: str = "alice", password: str = PASSWORD):
    """Log in as a browser does with CSRF protection on: the login form's token first."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302
    return response


def new_post(client, title="Hello", body="Some *text*", tags="", status="published", **extra):
    form = {"title": title, "body": body, "tags": tags, "status": status, **extra}
    return client.post("/posts/new", data=form)


def start_worker(
    env: dict[str, str], *extra: str, queue: str = "images", log: Path | None = None
) -> subprocess.Popen:
    """A real `rq worker` on one queue, in a session of its own (see README, Tests);
    its output appended to `log`, or dropped."""
    output = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [RQ, "worker", "--url", env["REDIS_URL"], "--worker-class", "jobs.worker.BlogWorker"]
        + [*extra, queue],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_worker(worker: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM), SIGKILL if it takes over 30 s."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def kill_hard(pid: int) -> list[psutil.Process]:
    """SIGKILL a worker and its work horse (a forked child in a session of its own)."""
    worker = psutil.Process(pid)
    victims = [*worker.children(recursive=True), worker]
    for process in victims:
        process.kill()
    psutil.wait_procs(victims, timeout=10)
    return victims


def wait_for(predicate: Callable, timeout: float = 60, interval: float = 0.01, what: str = ""):
    """Poll until `predicate()` is truthy and return its value; fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")


def rendered_post_pages(app, monkeypatch) -> list[str]:
    """Slugs of the post pages the app renders from now on (a hit renders nothing)."""
    data = app.extensions["blog_data"]
    rendered: list[str] = []
    real = data.post_page

    def post_page(slug: str):
        rendered.append(slug)
        return real(slug)

    monkeypatch.setattr(data, "post_page", post_page)
    return rendered


@contextlib.contextmanager
def commands_sent(monkeypatch) -> Iterator[list[str]]:
    """The commands every Redis client of this process sends meanwhile, one name per
    round trip (a pipeline or MULTI/EXEC counts as its first command)."""
    sent: list[str] = []
    send = Connection.send_packed_command

    def counting(self, command, check_health=True):
        chunks = command if isinstance(command, list) else [command]
        sent.append(bytes(chunks[0]).split(b"\r\n")[2].decode())
        return send(self, command, check_health)

    with monkeypatch.context() as patched:
        patched.setattr(Connection, "send_packed_command", counting)
        yield sent
