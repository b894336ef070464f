"""Template helpers: links that templates build through the remembered `url_for`."""

from __future__ import annotations

from flask import url_for


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
