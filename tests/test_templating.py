"""Template helpers: links that templates build through the remembered `url_for`."""

from __future__ import annotations

import re

from flask import url_for

from tests.helpers import add_post, make_app


def render(app, source: str, base_url: str = "http://blog.example/") -> str:
    with app.test_request_context("/", base_url=base_url):
        return app.jinja_env.from_string(source).render()


def test_fixed_links_follow_the_mount_point(app):
    links = "{{ url_for('posts.feed') }} {{ url_for('static', filename='style.css') }}"
    assert render(app, links) == "/feed.atom /static/style.css"
    # The same process serving the app under a prefix (DispatcherMiddleware, a proxy's
    # SCRIPT_NAME) must not be handed the links it remembered for the root, nor after.
    assert (
        render(app, links, "http://blog.example/blog/") == "/blog/feed.atom /blog/static/style.css"
    )
    assert render(app, links) == "/feed.atom /static/style.css"


def test_links_with_arguments_are_remembered_per_argument(app):
    source = "{{ url_for('posts.show', slug=slug) }}"
    with app.test_request_context("/"):
        template = app.jinja_env.from_string(source)
        assert template.render(slug="first") == "/posts/first"
        assert template.render(slug="second") == "/posts/second"
        assert template.render(slug="first") == url_for("posts.show", slug="first")
        assert template.render(slug="ünï co") == url_for("posts.show", slug="ünï co")
    assert render(app, "{{ url_for('posts.index', page=2) }}") == "/?page=2"
    assert render(app, "{{ url_for('posts.index', page='2') }}") == "/?page=2"
    # The same arguments under a prefix are another link.
    mounted = render(app, "{{ url_for('posts.show', slug='first') }}", "http://b.example/blog/")
    assert mounted == "/blog/posts/first"


def test_external_links_use_the_request_host(app):
    source = "{{ url_for('posts.feed', _external=True) }}"
    assert render(app, source) == "http://blog.example/feed.atom"
    assert render(app, source, "http://other.example/") == "http://other.example/feed.atom"


def test_templates_share_the_environment_globals(app):
    env = app.jinja_env
    # One dict, not a ChainMap over it: Jinja copies a template's globals key by key on
    # every render otherwise (blog.templating.BlogEnvironment).
    assert env.get_template("posts/index.html").globals is env.globals
    late = env.from_string("{{ added_late() }}")
    env.globals["added_late"] = lambda: "seen"
    try:
        assert late.render() == "seen"
    finally:
        del env.globals["added_late"]
    own = env.from_string("{{ mine }}", globals={"mine": "own"})
    assert own.render() == "own" and "mine" not in env.globals


def test_chrome_is_rendered_once_per_script_root_and_arguments(app):
    renders = []
    app.jinja_env.globals["counted"] = lambda: renders.append(1) or ""
    source = (
        "{% macro chrome_for_test(title) %}{{ counted() }}{{ title }} "
        "{{ url_for('posts.feed') }}{% endmacro %}{{ once(chrome_for_test, title) }}"
    )

    def render_once(title: str, base_url: str = "http://blog.example/") -> str:
        with app.test_request_context("/", base_url=base_url):
            return app.jinja_env.from_string(source).render(title=title)

    assert render_once("A&B") == "A&amp;B /feed.atom"
    assert render_once("A&B") == "A&amp;B /feed.atom" and len(renders) == 1
    assert render_once("Other") == "Other /feed.atom" and len(renders) == 2
    assert render_once("A&B", "http://blog.example/blog/") == "A&amp;B /blog/feed.atom"
    assert len(renders) == 3
    # Templates that reload (debug) render every time, so an edit shows at once.
    app.jinja_env.auto_reload = True
    assert render_once("A&B") == "A&amp;B /feed.atom" and len(renders) == 4


def test_visitor_chrome_follows_the_configured_title(redis_url, redis_client, media_root):
    app = make_app(redis_url, PAGE_CACHE_SECONDS=0, MEDIA_ROOT=str(media_root))
    client = app.test_client()
    app.config["BLOG_TITLE"] = "First <Title>"
    assert 'class="brand" href="/">First &lt;Title&gt;</a>' in client.get("/").get_data(True)
    app.config["BLOG_TITLE"] = "Second"
    page = client.get("/").get_data(as_text=True)
    assert 'class="brand" href="/">Second</a>' in page and 'title="Second"' in page


def test_post_summary_says_what_byline_and_tag_list_say(app, data):
    author = data.users.create("alice", "a long enough password")
    post = add_post(data, author, "Tagged <one>", tags=["redis", "ünï co"])
    data.comments.add(post.id, author.id, "Bea", "Nice", False)
    post = data.posts.get(post.id)
    assert post.comment_count == 1 and post.tags

    def squeezed(html: str) -> str:
        return re.sub(r"\s+", " ", re.sub(r">\s+<", "><", str(html))).strip()

    with app.test_request_context("/", base_url="http://blog.example/blog/"):
        macros = app.jinja_env.get_template("_macros.html").module
        summary = squeezed(macros.post_summary(post))
        for part in (macros.byline(post), macros.tag_list(post.tags)):
            assert squeezed(part) in summary
    assert "1 comment" in summary and "/blog/tags/" in summary
