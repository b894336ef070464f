"""A reader's newsletter journey in Chromium against gunicorn, a real `rq worker` on the
`mail` queue and a real SMTP server (aiosmtpd): subscribe in the footer, open the
confirmation link from the message received, the author publishes, the post arrives,
one-click unsubscribe by POST (as a mail client does), the next post does not arrive."""

from __future__ import annotations

import re
import secrets
import time

import pytest
import redis

pytest.importorskip("playwright.sync_api")
pytest.register_assert_rewrite("tests.browser_support")

from tests.browser_support import LiveApp, check_page, expect, requires_chromium  # noqa: E402
from tests.helpers import wait_for  # noqa: E402
from tests.mail_support import SmtpServer  # noqa: E402

pytest_plugins = ["tests.browser_support"]
pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def smtp_sink(tmp_path_factory):
    server = SmtpServer(cert_dir=tmp_path_factory.mktemp("smtp")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_app(redis_url, tmp_path_factory, smtp_sink):
    """browser_support's live app, with mail: its worker listens to `mail`."""
    connection = redis.Redis.from_url(redis_url)
    connection.flushall()
    connection.close()
    app = LiveApp(redis_url, tmp_path_factory.mktemp("live-mail"), queues=("mail",))
    app.scheduler = True
    app.settings = {**smtp_sink.settings(), "SITE_URL": app.url, "MAIL_RATE_PER_SECOND": "0"}
    app.start()
    yield app
    app.stop()


def link_in(message, pattern: str) -> str:
    text = message.get_body(("plain",)).get_content()
    return re.search(pattern, text).group(0)


def publish(page, title: str) -> None:
    page.goto("/posts/new")
    page.get_by_label("Title", exact=True).fill(title)
    page.get_by_label("Body", exact=True).fill("Words for the readers.")
    expect(page.get_by_label("Email this post to subscribers")).to_be_checked()  # default
    page.get_by_label("Status").select_option(label="Published")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def test_subscribe_confirm_receive_unsubscribe(new_context, blog_author, smtp_sink, data_layer):
    reader_email = f"reader-{secrets.token_hex(3)}@example.com"
    reader = new_context()
    page = reader.new_page()
    page.goto("/")
    footer = page.locator("footer")
    footer.get_by_label("Email address").fill(reader_email)
    footer.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    check_page(page, "subscribe-sent", reader.viewport)

    [confirmation] = wait_for(lambda: smtp_sink.recorder.to(reader_email), what="confirmation")
    page.goto(link_in(confirmation, r"http://\S+/subscribe/confirm/\S+"))
    page.get_by_role("button", name="Confirm subscription").click()
    expect(page.get_by_role("heading", name="You are subscribed")).to_be_visible()

    writer = new_context()
    author = writer.new_page()
    username, password = blog_author
    author.goto("/login")
    author.get_by_label("Username").fill(username)
    author.get_by_label("Password").fill(password)
    author.get_by_role("button", name="Log in").click()
    first_title = f"Big news {secrets.token_hex(3)}"
    publish(author, first_title)

    def post_mail(title):
        return [m for m in smtp_sink.recorder.to(reader_email) if title in m["Subject"]]

    [announcement] = wait_for(lambda: post_mail(first_title), what="the announcement")
    post_url = link_in(announcement, r"http://\S+/posts/\S+")
    page.goto(post_url)
    expect(page.get_by_role("heading", level=1)).to_have_text(first_title)

    # One-click unsubscribe: a POST to the List-Unsubscribe URL, without any cookie.
    unsubscribe_url = re.fullmatch(r"<(.+)>", announcement["List-Unsubscribe"]).group(1)
    assert announcement["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mail_client = new_context()
    answer = mail_client.context.request.post(
        unsubscribe_url,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status == 200
    page.goto(unsubscribe_url)  # the link in the body: a page, changes nothing
    expect(page.get_by_role("button", name="Unsubscribe")).to_be_visible()

    second_title = f"More news {secrets.token_hex(3)}"
    publish(author, second_title)
    post_id = data_layer.posts.id_for_slug(author.url.rsplit("/", 1)[1])
    wait_for(
        lambda: (a := data_layer.announcements.get(post_id)) and a.state == "sent",
        what="the second announcement done",
    )
    time.sleep(0.5)  # a message on its way would land by now
    assert not post_mail(second_title)
    for browsing in (reader, writer):
        browsing.watch.assert_clean()


def test_footer_form_fits_a_phone(new_context):
    phone = new_context("mobile")
    page = phone.new_page()
    page.goto("/")
    expect(page.locator("footer").get_by_role("button", name="Subscribe")).to_be_visible()
    check_page(page, "home-with-subscribe", phone.viewport)  # no sideways scrolling
    page.goto("/subscribe")
    check_page(page, "subscribe", phone.viewport)
    phone.watch.assert_clean()
