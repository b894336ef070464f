"""The blog in a real browser: Chromium (the system's) driven by Playwright against
gunicorn, a real rq worker and Redis.

- The author's journey: log in, write a post with two tags and Markdown, upload a photo
  carrying GPS, watch it go from *processing* to a picture with its privacy report, give
  alt text, insert it, publish; the post is on the home page and its tag page; a visitor
  (another browser context) comments; the feed is linked. Once on a desktop and once at
  375 px wide, where no page may scroll sideways.
- Logging in with the keyboard alone.
- On every page: no console error, no uncaught exception, no CSP violation, and a
  Content-Security-Policy header on every document (so "no violation" means something).

Screenshots land in test-artifacts/screenshots/. Without /usr/bin/chromium these tests
skip: apt-get install chromium.
"""

from __future__ import annotations

import io
import re
import secrets

import pytest
from PIL import Image

pytest.register_assert_rewrite("tests.browser_support")

from tests.browser_support import check_page, expect, log_in, requires_chromium  # noqa: E402
from tests.helpers import FIXTURES  # noqa: E402

pytest_plugins = ["tests.browser_support"]  # its fixtures: live_app, new_context, ...

pytestmark = [pytest.mark.browser, requires_chromium]

GPS_PHOTO = FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg"
GPS_IFD = 0x8825


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_author_journey(viewport, new_context, blog_author, worker_gate):
    username, password = blog_author
    tags = [f"photos-{viewport}", f"privacy-{secrets.token_hex(3)}"]
    title = f"A walk to the lighthouse ({viewport})"
    alt_text = "The lighthouse at dusk, seen from the harbour wall"
    writer = new_context(viewport)
    page = writer.new_page()

    # Log in.
    page.goto("/login")
    check_page(page, "login", viewport)
    log_in(page, username, password)

    # Write a post with two tags and a Markdown body.
    page.get_by_role("link", name="New post", exact=True).click()
    expect(page.get_by_role("heading", name="New post")).to_be_visible()
    page.get_by_label("Title", exact=True).fill(title)
    body = page.get_by_label("Body", exact=True)
    body.fill(
        "We walked out along the **harbour wall** at dusk.\n\n"
        "- cold wind\n- warm tea\n\n"
        "```\n" + "a_rather_long_line_of_code_that_must_scroll_inside_its_box() " * 3 + "\n```\n"
    )
    page.get_by_label("Tags", exact=True).fill(", ".join(tags))

    # Upload the GPS photo while the worker is busy: it stays *processing*.
    worker_gate.wait_until_held()
    with (
        page.expect_response(lambda r: r.url.endswith("/uploads")) as upload_answer,
        page.expect_response(lambda r: "/status" in r.url) as first_poll,
    ):
        page.set_input_files("#image-input", str(GPS_PHOTO))
    assert upload_answer.value.status == 202
    upload = upload_answer.value.json()
    assert first_poll.value.json()["status"] == "processing"
    item = page.locator("#upload-list li")
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile(r"\bprocessing\b"))
    expect(item).to_contain_text("DSCN0010.jpg: processing")
    check_page(page, "editor-processing", viewport)
    # Nobody can fetch the picture before the worker has cleaned it.
    assert writer.context.request.get(upload["url"]).status == 404

    # The worker cleans it: the thumbnail and the privacy report appear.
    worker_gate.release()
    expect(item).to_have_class(re.compile(r"\bready\b"), timeout=20_000)
    thumbnail = item.locator("img")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth > 0"), "no thumbnail"
    report = item.locator(".privacy-report")
    expect(report).to_contain_text("Removed before publishing")
    expect(report).to_contain_text("GPS position")

    # Alt text is required before inserting.
    insert = item.get_by_role("button", name="Insert into post")
    insert.click()
    expect(item.get_by_role("alert")).to_have_text("Please write alt text first.")
    item.get_by_label(re.compile("Alt text")).fill(alt_text)
    insert.click()
    expect(item.get_by_role("button", name="Inserted")).to_be_visible()
    expect(body).to_have_value(re.compile(re.escape(f"![{alt_text}]({upload['url']})")))
    check_page(page, "editor", viewport)

    # Publish.
    page.get_by_label("Status").select_option(label="Published")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("as published")
    post_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    article = page.locator("article.post")
    expect(article.locator("strong")).to_have_text("harbour wall")
    expect(article.locator("li", has_text="warm tea")).to_be_visible()
    picture = article.get_by_role("img", name=alt_text)
    expect(picture).to_be_visible()
    assert picture.evaluate("img => img.complete && img.naturalWidth > 0"), "picture broken"
    for tag in tags:
        expect(article.get_by_role("link", name=f"#{tag}")).to_be_visible()
    check_page(page, "post", viewport)

    # What visitors download carries no GPS position.
    served = writer.context.request.get(upload["url"])
    assert served.ok
    assert not Image.open(io.BytesIO(served.body())).getexif().get_ifd(GPS_IFD)

    # On the home page, and on its tag page.
    page.get_by_role("link", name="A Redis Blog").click()
    summary = page.locator("article.summary", has_text=title)
    expect(summary).to_be_visible()
    check_page(page, "home", viewport)
    summary.get_by_role("link", name=f"#{tags[1]}").click()
    expect(page.get_by_role("heading", name=f"Posts tagged #{tags[1]}")).to_be_visible()
    expect(page.locator("article.summary")).to_have_count(1)
    expect(page.locator("article.summary h2")).to_have_text(title)
    check_page(page, "tag", viewport)

    # A visitor, in a browser context of their own, leaves a comment.
    visitor = new_context(viewport)
    guest = visitor.new_page()
    guest.goto(post_url)
    expect(guest.get_by_role("link", name="Log in")).to_be_visible()
    expect(guest.get_by_role("link", name="Edit")).to_have_count(0)
    guest.get_by_label("Name").fill("Grace")
    guest.get_by_label("Comment", exact=True).fill("Lovely light. Which lighthouse is it?")
    guest.get_by_role("button", name="Post comment").click()
    expect(guest.get_by_role("status")).to_have_text("Thank you for your comment.")
    comment = guest.locator("#comments article.comment")
    expect(comment).to_have_count(1)
    expect(comment).to_contain_text("Grace")
    expect(comment).to_contain_text("Which lighthouse is it?")
    check_page(guest, "post-commented", viewport)

    # The feed is linked from the page head and the footer, and it holds the post.
    feed_link = guest.locator('head link[rel="alternate"][type="application/atom+xml"]')
    expect(feed_link).to_have_attribute("href", "/feed.atom")
    footer_link = guest.locator("footer").get_by_role("link", name="Atom feed")
    expect(footer_link).to_have_attribute("href", "/feed.atom")
    feed = visitor.context.request.get("/feed.atom")
    assert feed.ok and "atom" in feed.headers["content-type"]
    assert title in feed.text()

    # The author sees the comment counted on the home page.
    page.goto("/")
    expect(page.locator("article.summary", has_text=title)).to_contain_text("1 comment")

    writer.watch.assert_clean()
    visitor.watch.assert_clean()


def test_keyboard_only_login(new_context, blog_author):
    username, password = blog_author
    browsing = new_context("desktop")
    page = browsing.new_page()
    page.goto("/login")
    assert page.evaluate("document.activeElement === document.body")

    # Tab from the top of the page: header links first, then the username field.
    visited = []
    for _ in range(15):
        page.keyboard.press("Tab")
        visited.append(page.evaluate("(e => e.id || e.textContent)(document.activeElement)"))
        if visited[-1] == "username":
            break
    else:
        pytest.fail(f"Tab never reached the username field: {visited}")
    # Where the keyboard is must be visible.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(password)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text(f"Welcome back, {username}.")
    expect(page.get_by_role("button", name=f"Log out {username}")).to_be_visible()
    expect(page.get_by_role("heading", name="My posts")).to_be_visible()
    browsing.watch.assert_clean()


def test_log_out_everywhere_ends_the_other_browsers_session(new_context, blog_author):
    """Issue 9: the button on "My posts" ends every session, the other browser's too."""
    username, password = blog_author
    laptop, phone = new_context("desktop"), new_context("mobile")
    laptop_page, phone_page = laptop.new_page(), phone.new_page()
    log_in(laptop_page, username, password)
    log_in(phone_page, username, password)
    laptop_page.goto("/dashboard")
    laptop_page.get_by_role("button", name="Log out everywhere").click()
    expect(laptop_page.get_by_role("status")).to_contain_text("logged out everywhere")
    phone_page.goto("/dashboard")
    expect(phone_page).to_have_url(re.compile(r"/login\?next=/dashboard$"))
    expect(phone_page.get_by_role("link", name="Log in")).to_be_visible()
    laptop.watch.assert_clean()
    phone.watch.assert_clean()


def test_csp_violations_are_caught(new_context):
    """The watch really sees violations: an injected inline script is refused and reported."""
    browsing = new_context("desktop")
    page = browsing.new_page()
    page.goto("/login")
    page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.body.append(script);
    }""")
    page.wait_for_function("(window.__cspViolations || []).length > 0")
    assert page.evaluate("window.inlineRan") is None
    page.evaluate("1")  # let the binding's report reach Python
    assert any(v["directive"].startswith("script-src") for v in browsing.watch.csp_violations)
    assert any("Content Security Policy" in e for e in browsing.watch.console_errors)
    with pytest.raises(AssertionError):
        browsing.watch.assert_clean()
