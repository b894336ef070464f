"""Fixtures and helpers for the browser tests (tests/test_browser.py).

The app runs as it does in production: gunicorn with two worker processes, a real
`rq worker` process and the session's real redis-server. Playwright drives the system's
Chromium (Debian package `chromium`); no browser is ever downloaded. Without
/usr/bin/chromium the browser tests skip and say how to install it.

The server, the worker and the browser live for the whole test module; each test makes
its own author and posts (with unique names) and its own browser contexts.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from devtools.redis_server import free_port
from tests.helpers import PASSWORD, ROOT, RQ

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
MOBILE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="no Chromium at /usr/bin/chromium: apt-get install chromium "
    "(Debian's package; Playwright never downloads a browser here)",
)

# Settings the app reads from the environment: the servers get ours, not the caller's.
# (A developer's .env cannot put them back: load_dotenv() never overrides a set variable,
# and the S3 switches are set to empty on purpose.)
_APP_SETTINGS = (
    "APP_ENV",
    "SECRET_KEY",
    "REDIS_",
    "KEY_PREFIX",
    "MEDIA_",
    "S3_",
    "AWS_",
    "BACKUP_",
    "COMMENT_",
    "TRUSTED_PROXIES",
    "POSTS_PER_PAGE",
    "MAX_UPLOAD_MB",
    "BLOG_TITLE",
    "WEB_CONCURRENCY",
    "FLASK_",
    "MAIL_",
    "SITE_URL",
)


def server_env(redis_url: str, media_root: Path, backup_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_APP_SETTINGS)}
    env.update(
        REDIS_URL=redis_url,
        MEDIA_ROOT=str(media_root),
        BACKUP_ROOT=str(backup_root),
        APP_ENV="development",  # plain http: the session cookie must not be Secure
        SECRET_KEY=secrets.token_hex(32),  # shared by both gunicorn workers
        KEY_PREFIX="blog:",
        BLOG_TITLE="A Redis Blog",
        S3_BUCKET="",
        MEDIA_URL="",
        BACKUP_BUCKET="",
        PYTHONUNBUFFERED="1",
    )
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class LiveApp:
    """gunicorn serving app:app plus one rq worker on the `images` and `backups` queues."""

    redis_url: str
    directory: Path
    port: int = field(default_factory=free_port)
    web: subprocess.Popen | None = None
    worker: subprocess.Popen | None = None
    queues: tuple[str, ...] = ("images", "backups")  # what the worker listens to
    scheduler: bool = False  # --with-scheduler: delayed jobs and retries run
    settings: dict[str, str] = field(default_factory=dict)  # more environment for both

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def web_log(self) -> Path:
        return self.directory / "gunicorn.log"

    @property
    def worker_log(self) -> Path:
        return self.directory / "worker.log"

    def start(self) -> LiveApp:
        env = server_env(self.redis_url, self.directory / "media", self.directory / "backups")
        env.update(self.settings)
        self.web = subprocess.Popen(
            [
                GUNICORN,
                "app:app",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.web_log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.worker = subprocess.Popen(
            [
                RQ,
                "worker",
                "--url",
                self.redis_url,
                "--worker-class",
                "jobs.worker.BlogWorker",
                *(["--with-scheduler"] if self.scheduler else []),
                *self.queues,
            ],
            cwd=ROOT,
            env=env,
            stdout=self.worker_log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_until_up()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_up(self, timeout: float = 30) -> None:
        from rq import Worker

        deadline = time.monotonic() + timeout
        web_up = worker_up = False
        connection = redis.Redis.from_url(self.redis_url)
        try:
            while not (web_up and worker_up):
                for name, process, log in (
                    ("gunicorn", self.web, self.web_log),
                    ("rq worker", self.worker, self.worker_log),
                ):
                    if process.poll() is not None:
                        raise RuntimeError(
                            f"{name} exited with {process.returncode}:\n{_tail(log)}"
                        )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"not up after {timeout} s (web {web_up}, worker "
                        f"{worker_up}):\n{_tail(self.web_log)}\n"
                        f"{_tail(self.worker_log)}"
                    )
                if not web_up:
                    try:
                        with urllib.request.urlopen(self.url + "/login", timeout=2) as answer:
                            web_up = answer.status == 200
                    except (urllib.error.URLError, ConnectionError, TimeoutError):
                        pass
                worker_up = worker_up or any(
                    w.pid == self.worker.pid for w in Worker.all(connection=connection)
                )
                time.sleep(0.1)
        finally:
            connection.close()

    def stop(self) -> None:
        for process in (self.worker, self.web):
            if process is not None:
                _stop(process)

    def logs(self) -> str:
        return f"--- gunicorn\n{_tail(self.web_log)}\n--- rq worker\n{_tail(self.worker_log)}"


@pytest.fixture(scope="module")
def live_app(redis_url, tmp_path_factory) -> Iterator[LiveApp]:
    """The app behind a real gunicorn and a real rq worker, for the whole module.

    Nothing in this module uses the per-test `redis_client` fixture (its FLUSHALL would
    also wipe the worker's registration); the database is emptied once, here.
    """
    connection = redis.Redis.from_url(redis_url)
    connection.flushall()
    connection.close()
    app = LiveApp(redis_url, tmp_path_factory.mktemp("live-app")).start()
    yield app
    app.stop()


@pytest.fixture(scope="module")
def data_layer(redis_url):
    """The same data layer the app uses, to create authors without a browser."""
    from blog.data import DataLayer, connect

    client = connect(redis_url)
    yield DataLayer(client, "blog:")
    client.close()


@pytest.fixture
def blog_author(data_layer):
    """A fresh author for this test; (username, password)."""
    name = "author-" + secrets.token_hex(4)
    data_layer.users.create(name, PASSWORD)
    return name, PASSWORD


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


# --------------------------------------------------------------------------- page health
# Runs in every document before its own scripts: records CSP violations where a test
# can read them, and reports them to Python at once (a binding survives navigations).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  const report = {directive: event.violatedDirective, blocked: event.blockedURI,
                  source: event.sourceFile, line: event.lineNumber, page: location.href};
  (window.__cspViolations = window.__cspViolations || []).push(report);
  if (window.__reportCspViolation) window.__reportCspViolation(report);
});
"""


@dataclass
class PageWatch:
    """Everything that went wrong in the pages of one browser context."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)
    documents_without_csp: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)  # explains console 404s

    def attach(self, context) -> None:
        context.add_init_script(CSP_LISTENER)
        context.expose_binding(
            "__reportCspViolation", lambda _source, report: self.csp_violations.append(report)
        )
        context.on("console", self._on_console)
        context.on("weberror", lambda error: self.page_errors.append(str(error.error)))
        context.on("response", self._on_response)

    def _on_console(self, message) -> None:
        text = message.text
        if message.type == "error" or "Content Security Policy" in text:
            where = message.page.url if message.page else "?"
            source = (message.location or {}).get("url")
            self.console_errors.append(f"{where}: {text}" + (f" ({source})" if source else ""))

    def _on_response(self, response) -> None:
        if response.status >= 400:
            self.failed_responses.append(f"{response.status} {response.url}")
        if response.request.resource_type == "document":
            self.documents.append(response.url)
            if "content-security-policy" not in response.headers:
                self.documents_without_csp.append(response.url)

    def problems(self) -> list[str]:
        return (
            [f"console error: {e}" for e in self.console_errors]
            + [f"uncaught exception: {e}" for e in self.page_errors]
            + [f"CSP violation: {v}" for v in self.csp_violations]
            + [f"no Content-Security-Policy header: {u}" for u in self.documents_without_csp]
            + [f"failed response: {r}" for r in self.failed_responses]
        )

    def assert_clean(self) -> None:
        assert self.documents, "no page was visited"
        assert not self.problems(), "\n".join(self.problems())


@dataclass
class Browsing:
    """A browser context with its PageWatch; `new_context()` makes one per test."""

    context: object
    watch: PageWatch
    viewport: str

    def new_page(self):
        return self.context.new_page()


@pytest.fixture
def new_context(browser, live_app) -> Iterator[Callable[..., Browsing]]:
    """Factory for watched browser contexts on the live app; all closed at teardown."""
    made: list[Browsing] = []

    def make(viewport: str = "desktop") -> Browsing:
        options = MOBILE if viewport == "mobile" else DESKTOP
        context = browser.new_context(base_url=live_app.url, **options)
        context.set_default_timeout(10_000)
        watch = PageWatch()
        watch.attach(context)
        made.append(Browsing(context, watch, viewport))
        return made[-1]

    yield make
    for browsing in made:
        browsing.context.close()


# --------------------------------------------------------------------------- page checks
def check_page(page, name: str, viewport: str) -> None:
    """Screenshot the page; at 375 px the page must not scroll sideways."""
    page.wait_for_load_state("load")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{viewport}-{name}.png"), full_page=True)
    widths = page.evaluate("""() => ({inner: window.innerWidth,
                                      scroll: document.documentElement.scrollWidth})""")
    if viewport == "mobile":
        assert widths["scroll"] <= 375 and widths["inner"] == 375, (
            f"{name} ({page.url}) scrolls sideways at 375 px: {widths}; widest: "
            + ", ".join(page.evaluate(WIDEST_ELEMENTS))
        )
    else:
        assert widths["scroll"] <= widths["inner"], (name, page.url, widths)


WIDEST_ELEMENTS = """() => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > 375 || (e.scrollWidth > e.clientWidth + 1
                 && getComputedStyle(e).overflowX === "visible"))
  .slice(0, 5).map((e) => `${e.tagName}#${e.id}.${e.className}[${e.type || ""}] right=` +
                   Math.round(e.getBoundingClientRect().right))"""


# --------------------------------------------------------------------------- worker gate
def hold_worker(redis_url: str, key: str, timeout: float = 30) -> bool:
    """A job that keeps the (single) rq worker busy until `release_worker(key)`.

    Jobs queued behind it wait, so an upload stays *processing* for as long as a test
    needs to look at it, however fast the real cleaning job is.
    """
    client = redis.Redis.from_url(redis_url)
    try:
        return client.blpop([key], timeout=timeout) is not None
    finally:
        client.close()


class WorkerGate:
    def __init__(self, redis_url: str) -> None:
        from rq import Queue

        self.redis = redis.Redis.from_url(redis_url)
        self.key = "browser-test:gate:" + secrets.token_hex(4)
        self.job = Queue("images", connection=self.redis).enqueue(
            "tests.browser_support.hold_worker", redis_url, self.key, job_timeout=60, result_ttl=60
        )

    def wait_until_held(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline, "the rq worker never started the gate job"
            time.sleep(0.05)

    def release(self) -> None:
        self.redis.rpush(self.key, "go")
        self.redis.expire(self.key, 60)


@pytest.fixture
def worker_gate(live_app) -> Iterator[WorkerGate]:
    gate = WorkerGate(live_app.redis_url)
    yield gate
    gate.release()  # never leave the worker held, even when the test failed
    gate.redis.close()


# Playwright is imported when a test runs: collecting the suite works without it.
def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def log_in(page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()
