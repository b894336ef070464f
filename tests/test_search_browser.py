"""The search box in a real browser (Chromium via Playwright, gunicorn, a real worker):
suggestions appear while typing (one request per pause), arrows and Enter pick one,
Escape closes the list, a plain Enter searches; no CSP violation on the way."""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("tests.browser_support")

from tests.browser_support import check_page, expect, requires_chromium  # noqa: E402
from tests.helpers import PASSWORD  # noqa: E402

pytest_plugins = ["tests.browser_support"]  # its fixtures: live_app, new_context, ...

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def indexed_posts(data_layer):
    """Two posts, indexed as their job would do it (once for the module)."""
    from blog.data import PostInput
    from blog.search import service

    author = data_layer.users.create("searcher", PASSWORD)
    made = []
    for title, body, tags in [
        ("Learning Redis Streams", "Consumer groups share the work.", ["redis"]),
        ("Leather care", "Oil, then wax.", ["crafts"]),
    ]:
        post = data_layer.posts.create(
            author.id, author.username, PostInput(title, body, tags, "published")
        )
        service.index_post(data_layer, post.id)
        made.append(post)
    return made


@pytest.mark.parametrize("viewport", ["desktop", "mobile"])
def test_suggestions_with_the_keyboard(new_context, indexed_posts, viewport):
    browsing = new_context(viewport)
    page = browsing.new_page()
    suggest_requests = []
    page.on("request", lambda r: "/search/suggest" in r.url and suggest_requests.append(r.url))
    page.goto("/")
    box = page.get_by_role("combobox", name="Search posts")
    box.press_sequentially("lea", delay=30)
    options = page.get_by_role("option")
    expect(options).to_have_text(["Learning Redis Streams", "Leather care"])
    assert len(suggest_requests) == 1, suggest_requests  # debounced: one per pause
    expect(box).to_have_attribute("aria-expanded", "true")
    check_page(page, "search-suggestions", viewport)

    box.press("ArrowDown")
    box.press("ArrowDown")
    box.press("ArrowDown")  # past the end: back to the first
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(options.nth(1)).to_have_attribute("aria-selected", "false")
    expect(box).to_have_attribute("aria-activedescendant", "suggestion-0")
    box.press("Escape")
    expect(page.get_by_role("listbox")).to_be_hidden()
    expect(box).to_have_attribute("aria-expanded", "false")

    box.press_sequentially("r", delay=30)  # "lear": the list comes back
    expect(options).to_have_text(["Learning Redis Streams"])
    box.press("ArrowDown")
    box.press("Enter")
    page.wait_for_url("**/posts/learning-redis-streams")
    browsing.watch.assert_clean()


def test_enter_without_a_pick_searches(new_context, indexed_posts):
    browsing = new_context("desktop")
    page = browsing.new_page()
    page.goto("/tags")
    box = page.get_by_role("combobox", name="Search posts")
    box.fill("consumer groups")
    box.press("Enter")
    page.wait_for_url("**/search?q=consumer+groups")
    hit = page.locator("article.search-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("mark")).to_have_text(["Consumer", "groups"])
    expect(page.get_by_role("combobox", name="Search posts")).to_have_value("consumer groups")
    check_page(page, "search-results", "desktop")
    browsing.watch.assert_clean()
