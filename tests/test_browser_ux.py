"""Writing and reading in a real browser (issue 12): Chromium driven by Playwright against
gunicorn, a real rq worker (images and backups queues) and Redis.

- The editor: live preview (server-rendered, sanitized), autosave (a reload keeps the
  text; a published post's edits stay a pending revision until "Update"), the warning
  before leaving with unsaved changes, the images panel (insert once on a double click,
  alt text edited in place, remove; a deleted post's image answers 404 at once).
- "Back up now" on /admin/backups: progress and outcome without a reload.
- The reader theme in the dark scheme (emulated), the sitemap in Chromium's XML viewer,
  the way to the job dashboard and back, "Log in to continue".
- No page scrolls sideways at 375 px.

Every page is also checked for console errors, CSP violations and failed responses.
Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import secrets

import pytest

pytest.register_assert_rewrite("tests.browser_support")

from tests.browser_support import (  # noqa: E402
    SCREENSHOTS,
    check_page,
    expect,
    log_in,
    requires_chromium,
)
from tests.helpers import FIXTURES  # noqa: E402

pytest_plugins = ["tests.browser_support"]

pytestmark = [pytest.mark.browser, requires_chromium]

PHOTO = FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg"
SAVED = re.compile(r"^Saved \d\d:\d\d")


def new_post_page(browsing, author):
    page = browsing.new_page()
    log_in(page, *author)
    page.goto("/posts/new")
    return page


def saved(page, timeout: float = 20_000) -> None:
    expect(page.locator("#autosave-status")).to_have_text(SAVED, timeout=timeout)


def test_live_preview_uses_the_published_renderer(new_context, blog_author):
    browsing = new_context("desktop")
    page = new_post_page(browsing, blog_author)
    body = page.get_by_label("Body", exact=True)
    body.fill(
        "# Harbour\n\nPast the *fishing boats*.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        '<script>window.previewRan = 1</script><img src="data:," onerror="window.previewRan = 2">'
    )
    toggle = page.get_by_role("button", name="Preview")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    with page.expect_response(lambda r: r.url.endswith("/posts/preview")) as answer:
        toggle.click()
    assert answer.value.status == 200
    preview = page.locator("#preview")
    expect(preview.locator("h1")).to_have_text("Harbour")
    expect(preview.locator("em")).to_have_text("fishing boats")
    expect(preview.locator("table td").first).to_have_text("1")
    assert preview.locator("script").count() == 0
    assert page.evaluate("window.previewRan") is None
    # It follows the text as the author types.
    body.press("End")
    body.type("\n\nA **new** line")
    expect(preview.locator("strong")).to_have_text("new")
    check_page(page, "editor-preview", "desktop")
    toggle.click()
    expect(preview).to_be_hidden()
    browsing.watch.assert_clean()


def test_autosave_keeps_drafts_and_holds_back_published_edits(new_context, blog_author):
    browsing = new_context("desktop")
    page = new_post_page(browsing, blog_author)
    title = f"Autosaved {secrets.token_hex(3)}"
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Body", exact=True).press_sequentially("Typed, never saved by hand.")
    saved(page)
    # The new post became a draft; the editor moved to its address, so a reload keeps it.
    expect(page).to_have_url(re.compile(r"/posts/autosaved-[0-9a-f]+/edit$"))
    page.reload()
    expect(page.get_by_label("Body", exact=True)).to_have_value("Typed, never saved by hand.")
    expect(page.get_by_label("Title", exact=True)).to_have_value(title)

    # Publish it, then edit: autosave keeps the edit aside.
    page.get_by_label("Status").select_option(label="Published")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    post_url = page.url
    page.get_by_role("link", name="Edit", exact=True).click()
    body = page.get_by_label("Body", exact=True)
    body.press("End")
    body.press_sequentially(" Half-done edit.")
    expect(page.locator("#autosave-status")).to_have_text(
        re.compile(r"^Saved \d\d:\d\d \(not published until you press Update\)"), timeout=20_000
    )
    check_page(page, "editor-autosaved", "desktop")
    visitor = new_context("desktop").new_page()
    visitor.goto(post_url)
    expect(visitor.locator("article.post .body")).to_have_text("Typed, never saved by hand.")

    # Back in the editor later: the pending revision, and a way to discard it.
    page.goto(post_url + "/edit")
    expect(page.locator("#revision-notice")).to_contain_text("not published yet")
    expect(page.get_by_label("Body", exact=True)).to_have_value(
        "Typed, never saved by hand. Half-done edit."
    )
    page.get_by_role("button", name="Update").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    visitor.reload()
    expect(visitor.locator("article.post .body")).to_contain_text("Half-done edit.")
    page.goto(post_url + "/edit")
    expect(page.locator("#revision-notice")).to_have_count(0)
    browsing.watch.assert_clean()


def test_save_pressed_during_the_first_autosave_makes_one_post(new_context, blog_author):
    """The first autosave of a new post creates it; "Save" pressed while that request is
    on its way must go to the post it made, not create a second one, and the answers
    around it (the autosave's, the new address's favicon) must not put back the session
    cookie from before "Saved … as published". Every request is slowed by 1.5 s (Chrome's
    network emulation) so that Save lands while the autosave is out."""
    browsing = new_context("desktop")
    page = new_post_page(browsing, blog_author)
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 1500, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    title = f"Saved mid autosave {secrets.token_hex(3)}"
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Body", exact=True).fill("Pressed Save mid-autosave.")
    page.get_by_label("Status").select_option(label="Published")
    expect(page.locator("#autosave-status")).to_have_text("Saving…", timeout=20_000)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("as published", timeout=20_000)
    expect(page).to_have_url(re.compile(r"/posts/saved-mid-autosave-[0-9a-f]+$"))
    page.goto("/dashboard")
    expect(page.get_by_role("link", name=title, exact=True)).to_have_count(1)
    browsing.watch.assert_clean()


def test_leaving_with_unsaved_changes_asks_first(new_context, blog_author):
    browsing = new_context("desktop")
    page = new_post_page(browsing, blog_author)
    dialogs = []

    def stay(dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()  # "Stay on page"

    page.on("dialog", stay)
    page.get_by_label("Title", exact=True).fill(f"Unsaved {secrets.token_hex(3)}")
    page.get_by_label("Body", exact=True).press_sequentially("Not saved yet")
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)  # before the autosave's few seconds are up
    assert dialogs == ["beforeunload"]

    # Once autosaved, leaving asks nothing.
    saved(page)
    page.goto("/")
    expect(page.get_by_role("link", name="A Redis Blog")).to_be_visible()
    assert dialogs == ["beforeunload"]
    browsing.watch.assert_clean()


def test_images_panel(new_context, blog_author, live_app):
    browsing = new_context("desktop")
    page = new_post_page(browsing, blog_author)
    title = f"With a photo {secrets.token_hex(3)}"
    page.get_by_label("Title", exact=True).fill(title)
    body = page.get_by_label("Body", exact=True)
    body.fill("Intro.\n")
    with page.expect_response(lambda r: r.url.endswith("/uploads")) as answer:
        page.set_input_files("#image-input", str(PHOTO))
    image_url = answer.value.json()["url"]
    item = page.locator("#upload-list li")
    expect(item).to_have_class(re.compile(r"\bready\b"), timeout=20_000)
    expect(item.locator(".upload-state")).to_have_text("Not in the post.")
    item.get_by_label(re.compile("Alt text")).fill("Boats at dusk")
    item.get_by_role("button", name="Insert into post").dblclick()
    expect(item.get_by_role("button", name="Insert again")).to_be_visible()
    assert body.input_value().count(image_url) == 1, "a double click inserted twice"
    expect(item.locator(".upload-state")).to_have_text("In the post.")
    page.get_by_label("Status").select_option(label="Published")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    post_url = page.url

    # The edit page lists the post's images: alt text editable, insert again, remove.
    page.goto(post_url + "/edit")
    item = page.locator("#upload-list li")
    expect(item).to_have_count(1)
    alt = item.get_by_label(re.compile("Alt text"))
    expect(alt).to_have_value("Boats at dusk")
    alt.fill("Fishing boats at dusk")
    alt.press("Tab")
    expect(body).to_have_value(re.compile(re.escape(f"![Fishing boats at dusk]({image_url})")))
    check_page(page, "editor-images", "desktop")
    item.get_by_role("button", name="Insert again").click()
    expect(item.locator(".upload-state")).to_have_text("In the post 2 times.")
    item.get_by_role("button", name="Remove from post").click()
    assert image_url not in body.input_value()
    expect(item.get_by_role("button", name="Insert into post")).to_be_visible()
    item.get_by_role("button", name="Insert into post").click()
    page.get_by_role("button", name="Update").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    assert browsing.context.request.get(image_url).status == 200

    # Deleting the post: its image answers 404 at once.
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Yes, delete it").click()
    expect(page.get_by_role("status")).to_contain_text("Deleted")
    assert browsing.context.request.get(image_url).status == 404
    browsing.watch.assert_clean()


def test_back_up_now_shows_progress_and_outcome(new_context, blog_author, worker_gate):
    browsing = new_context("desktop")
    page = browsing.new_page()
    log_in(page, *blog_author)
    page.goto("/admin/backups")
    worker_gate.wait_until_held()  # the backup waits in the queue for a moment
    page.get_by_role("button", name="Back up now").click()
    panel = page.locator("#backup-progress")
    expect(panel).to_contain_text(re.compile(r"Backup queued"))
    expect(page.get_by_role("button", name="Back up now")).to_be_disabled()
    check_page(page, "backups-queued", "desktop")
    worker_gate.release()
    expect(panel).to_contain_text(re.compile(r"Backup done: \S+"), timeout=60_000)
    expect(panel).to_contain_text(re.compile(r"\d+ posts?, \d+ comments?, \d+ images?\."))
    assert page.url.endswith("/admin/backups")  # no reload, no navigation
    check_page(page, "backups-done", "desktop")
    browsing.watch.assert_clean()


def test_dark_scheme(new_context, blog_author):
    browsing = new_context("desktop")
    page = browsing.new_page()
    page.emulate_media(color_scheme="dark")
    log_in(page, *blog_author)
    page.goto("/posts/new")
    page.get_by_label("Title", exact=True).fill(f"Night reading {secrets.token_hex(3)}")
    page.get_by_label("Body", exact=True).fill(
        "> A quote.\n\n```\ncode block\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    )
    page.get_by_label("Status").select_option(label="Published")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    page.wait_for_load_state("load")  # the stylesheet is in
    colours = page.evaluate("""() => ({
        bg: getComputedStyle(document.body).backgroundColor,
        fg: getComputedStyle(document.body).color,
        quote: getComputedStyle(document.querySelector('.body blockquote')).borderLeftStyle})""")
    luminance = [int(n) for n in re.findall(r"\d+", colours["bg"])[:3]]
    assert sum(luminance) < 150, colours  # dark background
    assert sum(int(n) for n in re.findall(r"\d+", colours["fg"])[:3]) > 500, colours
    assert colours["quote"] == "solid"
    check_page(page, "post-dark", "desktop")
    page.emulate_media(color_scheme="light")
    assert (
        sum(
            int(n)
            for n in re.findall(
                r"\d+", page.evaluate("getComputedStyle(document.body).backgroundColor")
            )[:3]
        )
        > 700
    )
    browsing.watch.assert_clean()


def test_sitemap_is_readable_in_chromium(new_context):
    browsing = new_context("desktop")
    page = browsing.new_page()
    page.goto("/sitemap.xml")
    expect(
        page.get_by_text("This XML file does not appear to have any style information")
    ).to_be_visible()
    # The viewer's tree shows each URL (the raw XML it also holds stays hidden).
    expect(
        page.locator("#folder2").get_by_text(re.compile(r"^http://127\.0\.0\.1:\d+/tags$"))
    ).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "desktop-sitemap.png"))
    browsing.watch.assert_clean()


def test_jobs_link_and_the_way_back(new_context, blog_author):
    browsing = new_context("desktop")
    page = browsing.new_page()
    page.goto("/dashboard")
    expect(page.locator("p.notice")).to_have_text("Log in to continue.")
    page.get_by_label("Username").fill(blog_author[0])
    page.get_by_label("Password").fill(blog_author[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My posts")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    expect(page).to_have_url(re.compile(r"/admin/jobs/"))
    page.get_by_role("link", name="← Back to A Redis Blog").click()
    expect(page.get_by_role("heading", name="My posts")).to_be_visible()


@pytest.mark.parametrize("viewport", ["mobile", "desktop"])
def test_no_page_scrolls_sideways(viewport, new_context, blog_author):
    browsing = new_context(viewport)
    page = browsing.new_page()
    page.goto("/posts/new")  # redirected: "Log in to continue"
    check_page(page, "login-redirected", viewport)
    log_in(page, *blog_author)
    page.goto("/posts/new")
    title = f"A rather long title for a narrow screen {secrets.token_hex(3)}"
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Body", exact=True).fill(
        "Averyveryverylongwordwithoutanyspacethatmustwrapsomehowonanarrowscreen "
        * 2
        + "\n\n| column one | column two | column three | column four | column five |\n"
        "|---|---|---|---|---|\n| a long cell | another long cell | more | more | more |\n\n"
        "```\n" + "x = 'a line of code that is much wider than a phone screen' " * 2 + "\n```\n"
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview table")).to_be_visible()
    check_page(page, "editor-new", viewport)
    page.get_by_label("Tags", exact=True).fill("narrow, screens")
    page.get_by_label("Status").select_option(label="Published")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    post_url = page.url
    check_page(page, "post-long", viewport)
    slug = post_url.rsplit("/", 1)[1]
    for name, path in [
        ("home-reader", "/"),
        ("tags", "/tags"),
        ("tag-narrow", "/tags/narrow"),
        ("edit", f"/posts/{slug}/edit"),
        ("delete", f"/posts/{slug}/delete"),
        ("dashboard", "/dashboard"),
        ("moderation", "/moderation"),
        ("backups", "/admin/backups"),
        ("not-found", "/posts/no-such-post"),
        ("jobs", "/admin/jobs/"),
    ]:
        page.goto(path)
        check_page(page, name, viewport)
    problems = [p for p in browsing.watch.problems() if "404" not in p or "no-such-post" not in p]
    assert not problems, "\n".join(problems)
