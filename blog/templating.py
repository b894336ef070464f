"""Template filters and globals shared by every page."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from datetime import datetime
from typing import Any

from flask import Flask, current_app, has_request_context, request, url_for
from flask.templating import Environment
from jinja2.runtime import Macro
from markupsafe import Markup

from .data.models import to_datetime
from .rendering import render_comment
from .urls import external_url


def format_date(value: datetime | None) -> str:
    return value.strftime("%d %b %Y, %H:%M UTC") if value else ""


def plural(count: int, noun: str, many: str | None = None) -> str:
    """1 post, 2 posts, 0 posts; `many` for irregular nouns."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def absolute_url(path: str) -> str:
    """An absolute URL for a site path (share cards, canonical links): under SITE_URL
    when it is set (the address readers use, whatever Host the request came with)."""
    base = current_app.config.get("SITE_URL") or request.host_url
    return base.rstrip("/") + path


def canonical_url() -> str:
    """This page's address without query arguments, except a listing's page number."""
    page = request.args.get("page", "")
    query = f"?page={page}" if page.isascii() and page.isdigit() and page != "1" else ""
    return absolute_url(request.path) + query


# Links a process remembers before starting afresh: a listing page has about thirty
# (posts, tags, pagination), and a blog's pages keep asking for the same ones.
REMEMBERED_LINKS = 4096
PLAIN = (str, int)  # argument types whose value alone decides the link


def remembered_url_for() -> Callable[..., str]:
    """`url_for` for templates, remembering the links it built: building one through the
    URL map is a visible share of a visitor's page (about thirty on a listing). A link
    is a pure function of the script root (an app can be mounted under a prefix), the
    endpoint and its arguments; links that depend on more are built every time: any
    `_`-argument (`_external` takes the request's host), an endpoint relative to the
    current blueprint, or arguments that are not plain strings and numbers."""
    known: dict[tuple, str] = {}

    def build(endpoint: str, **values: Any) -> str:
        # A loop rather than any() over a generator, and no sort for one argument: a
        # listing calls this thirty times.
        for name, value in values.items():
            if name[:1] == "_" or type(value) not in PLAIN:
                return url_for(endpoint, **values)
        if endpoint[:1] == "." or not has_request_context():
            return url_for(endpoint, **values)
        arguments = sorted(values.items()) if len(values) > 1 else values.items()
        key = (request.script_root, endpoint, *arguments)
        url = known.get(key)
        if url is None:
            if len(known) >= REMEMBERED_LINKS:
                known.clear()
            url = known[key] = url_for(endpoint, **values)
        return url

    return build


# Fragments a process remembers before starting afresh: a handful of chrome pieces for
# each script root and blog title; the bound only matters if arguments keep changing.
REMEMBERED_FRAGMENTS = 256
FRAGMENT_ARGUMENT = (str, int, type(None))


def remembered_fragment(app: Flask) -> Callable[..., Markup]:
    """`once(macro, *args)` for templates: the macro's output, rendered once per process
    for each script root and arguments. For chrome that is the same on every page (links
    to the stylesheet, the visitor's header): a dozen links and escapes a page otherwise.
    The macro must read nothing but its arguments and `url_for`; its name and the
    arguments are the key, so the name must be unique among macros given to `once`, and
    arguments other than strings, numbers and None are rendered every time. With
    templates reloading (debug), every call renders, so an edited template shows at once."""
    known: dict[tuple, Markup] = {}

    def once(macro: Macro, *args: Any) -> Markup:
        if app.jinja_env.auto_reload or any(type(a) not in FRAGMENT_ARGUMENT for a in args):
            return Markup(macro(*args))
        key = (request.script_root, macro.name, *args)
        html = known.get(key)
        if html is None:
            if len(known) >= REMEMBERED_FRAGMENTS:
                known.clear()
            html = known[key] = Markup(macro(*args))
        return html

    return once


class BlogEnvironment(Environment):
    """Flask's Jinja environment, with the environment's globals as every template's
    globals. Jinja gives each template a ChainMap over them, and each render copies that
    into its context key by key in Python (`new_context`), and each `{% from ... import %}`
    compares the two sets of names through it (`_get_default_module`): about a fifth of a
    post page's rendering. The same dict stays live (a global added later is seen), and
    templates given their own globals (`from_string(..., globals=)`) keep Jinja's ChainMap.
    Nothing here passes globals to `get_template`, which would write them into this dict."""

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return super().make_globals(d) if d else self.globals


def init_app(app: Flask) -> None:
    app.jinja_env.globals["url_for"] = remembered_url_for()
    app.jinja_env.globals["once"] = remembered_fragment(app)
    app.add_template_filter(format_date, "date")
    app.add_template_filter(plural, "plural")
    app.add_template_filter(render_comment, "comment")
    app.jinja_env.globals["to_datetime"] = to_datetime
    app.jinja_env.globals["blog_title"] = lambda: app.config["BLOG_TITLE"]
    app.jinja_env.globals["absolute_url"] = absolute_url
    app.jinja_env.globals["external_url"] = external_url
    app.jinja_env.globals["canonical_url"] = canonical_url
