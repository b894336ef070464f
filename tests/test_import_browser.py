"""The /import page in Chromium: choose the file, "Import", a live <progress> bar driven
by static/progress.js (strict CSP, no inline script), then the report."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Error as PlaywrightError

pytest.register_assert_rewrite("tests.browser_support")

from bench.wxr import write_wxr  # noqa: E402
from tests.browser_support import expect, log_in, requires_chromium, server_env  # noqa: E402
from tests.helpers import start_worker, stop_worker  # noqa: E402

pytest_plugins = ["tests.browser_support"]  # its fixtures: live_app, new_context, ...

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]

POSTS = 1000  # several seconds of importing, so the bar is seen mid-way
READ_BAR = "(document.querySelector('#import-latest progress') || {}).value ?? null"


def test_import_shows_live_progress_then_the_report(
    new_context, blog_author, live_app, redis_url, tmp_path
):
    username, password = blog_author
    export = tmp_path / "wordpress.xml"
    with export.open("w", encoding="utf-8") as f:
        write_wxr(f, POSTS, paragraphs=2, comments=1)
    browsing = new_context()
    page = browsing.new_page()
    log_in(page, username, password)

    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("WordPress export file (.xml)").set_input_files(str(export))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status").last).to_contain_text("Importing wordpress.xml")
    expect(page.locator("#import-latest .job-step")).to_contain_text("queued")

    env = server_env(redis_url, live_app.directory / "media", live_app.directory / "backups")
    worker = start_worker(env, queue="documents")
    try:
        seen: list[int] = []
        report = page.get_by_text(f"{POSTS} posts imported")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not report.count():
            try:  # one read; the page reloads by itself when the import ends
                value = page.evaluate(READ_BAR)
            except PlaywrightError:
                continue
            if value is not None and (not seen or value != seen[-1]):
                seen.append(int(value))
            time.sleep(0.05)
        expect(report).to_be_visible(timeout=5_000)
    finally:
        stop_worker(worker)
    assert any(0 < v < POSTS for v in seen), f"the bar never moved mid-import: {seen}"
    assert seen == sorted(seen)
    expect(page.get_by_text(f"{POSTS} comments imported")).to_be_visible()
    browsing.watch.assert_clean()
