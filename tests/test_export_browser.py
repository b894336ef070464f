"""The /export page in Chromium: "Build", a live <progress> bar driven by
static/progress.js (strict CSP, no inline script), then the download link."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError

pytest.register_assert_rewrite("tests.browser_support")

from tests.browser_support import expect, log_in, requires_chromium, server_env  # noqa: E402
from tests.export_helpers import big_blog  # noqa: E402
from tests.helpers import start_worker, stop_worker  # noqa: E402

pytest_plugins = ["tests.browser_support"]  # its fixtures: live_app, new_context, ...

pytestmark = [pytest.mark.browser, pytest.mark.slow, requires_chromium]


READ_BAR = """(() => {
  const bar = document.querySelector('#export-markdown progress');
  return bar ? [bar.value, bar.max] : null;
})()"""


def test_build_shows_live_progress_then_a_download(
    new_context, blog_author, live_app, data_layer, redis_url, tmp_path
):
    username, password = blog_author
    big_blog(data_layer)  # a build that takes several seconds
    browsing = new_context()
    page = browsing.new_page()
    log_in(page, username, password)

    page.get_by_role("link", name="Export", exact=True).click()
    page.get_by_label("Markdown site bundle (.zip)").check()
    page.get_by_role("button", name="Build").click()
    expect(page.get_by_role("status")).to_contain_text("Building your Markdown site bundle")
    bar = page.locator("#export-markdown progress")
    expect(bar).to_be_visible()
    expect(page.locator("#export-markdown .job-step")).to_contain_text("queued")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()

    # No worker yet: the job waits. Now start one on the `documents` queue.
    env = server_env(redis_url, live_app.directory / "media", live_app.directory / "backups")
    worker = start_worker({**env, "TMPDIR": str(tmp_path)}, queue="documents")
    try:
        seen: list[tuple[int, int]] = []  # (value, max) of the bar
        deadline = time.monotonic() + 120
        download = page.get_by_role("link", name=re.compile(r"^Download "))
        while time.monotonic() < deadline and not download.count():
            try:  # one read; the page reloads by itself when the build ends
                value = page.evaluate(READ_BAR)
            except PlaywrightError:
                continue
            reading = (int(value[0]), int(value[1])) if value else None
            if reading and (not seen or reading != seen[-1]):
                seen.append(reading)
            time.sleep(0.05)
        expect(download).to_be_visible(timeout=5_000)
    finally:
        stop_worker(worker)
    done = [value for value, _ in seen]
    assert any(0 < value < total for value, total in seen), f"never seen mid-build: {seen}"
    assert done == sorted(done)  # it only moves forward

    with page.expect_download() as started:
        download.click()
    assert started.value.suggested_filename.endswith(".zip")
    browsing.watch.assert_clean()
