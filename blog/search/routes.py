"""/search (the results page) and /search/suggest (JSON for the search box's script)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request, url_for
from flask.typing import ResponseReturnValue

from processing.search import MAX_QUERY_LENGTH, QueryError, highlight, snippet

from ..data import get_data
from ..posts.routes import page_number, per_page
from ..rendering import plain_text
from . import service

bp = Blueprint("search", __name__)

MAX_SUGGEST_LENGTH = 50
MIN_SUGGEST_LENGTH = 2


@bp.route("/search")
def results() -> ResponseReturnValue:
    raw = request.args.get("q", "")
    number = page_number()
    data = get_data()
    try:
        query = service.parse(data, raw)
    except QueryError as error:
        too_long = len(raw.strip()) > MAX_QUERY_LENGTH
        page = render_template("search/results.html", q=raw, error=str(error), results=None)
        return page, 400 if too_long else 200
    found = service.search(data, query, number, per_page())
    if number > 1 and not found.hits:
        abort(404)
    terms, analyzer = query.highlight, service.analyzer(data.search_language)
    rows = [
        {
            "post": hit.post,
            "title": highlight(hit.post.title, terms, analyzer),
            "snippet": snippet(plain_text(hit.post.html), terms, analyzer),
        }
        for hit in found.hits
    ]
    return render_template("search/results.html", q=raw, error=None, results=found, rows=rows)


@bp.route("/search/suggest")
def suggest() -> ResponseReturnValue:
    """Titles and tags with a word starting with ?q=, as JSON for the search box."""
    raw = request.args.get("q", "")
    if len(raw) > MAX_SUGGEST_LENGTH:
        message = f"At most {MAX_SUGGEST_LENGTH} characters, please."
        return jsonify(query=raw[:MAX_SUGGEST_LENGTH], suggestions=[], error=message), 400
    if len(raw.strip()) < MIN_SUGGEST_LENGTH:
        return jsonify(query=raw, suggestions=[])
    suggestions = [
        {
            "kind": s.kind,
            "label": s.label if s.kind == "post" else f"#{s.label}",
            "url": url_for("posts.show", slug=s.ref)
            if s.kind == "post"
            else url_for("posts.tag", tag=s.ref),
        }
        for s in service.suggest(get_data(), raw)
    ]
    return jsonify(query=raw, suggestions=suggestions)
