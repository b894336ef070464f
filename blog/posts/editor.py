"""The editor's JSON endpoints: live preview and autosave (CSRF-protected like every form).

Autosave never publishes: a draft is saved as a draft; edits of a published or
scheduled post are kept aside as a pending revision until the author presses "Update".
"""

from __future__ import annotations

from flask import current_app, flash, g, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from ..auth import login_required
from ..data import PostChanged, PostGone, PostInput, get_data
from ..uploads.routes import json_error
from . import bp
from .forms import ConfirmForm, DraftForm, PreviewForm, normalise_tags
from .routes import owned_post


def first_error(form: FlaskForm) -> str:
    for errors in form.errors.values():
        return errors[0]
    return "The request was not valid."


@bp.post("/posts/preview")
@login_required
def preview() -> ResponseReturnValue:
    """The body rendered and sanitized exactly as the post page will show it."""
    limit = current_app.config["PREVIEWS_PER_MINUTE"]
    if not get_data().limits.hit("preview", str(g.user["id"]), limit):
        return json_error(429, f"At most {limit} previews a minute; the preview resumes shortly.")
    form = PreviewForm()
    if not form.validate_on_submit():
        return json_error(400, first_error(form))
    return jsonify(html=get_data().posts.render(form.body.data or ""))


@bp.post("/posts/autosave")
@login_required
def autosave_new() -> ResponseReturnValue:
    """The first autosave of a new post: it becomes a draft (the editor then moves to
    its edit address)."""
    return _autosave(None)


@bp.post("/posts/<slug>/autosave")
@login_required
def autosave(slug: str) -> ResponseReturnValue:
    return _autosave(slug)


def _autosave(slug: str | None) -> ResponseReturnValue:
    form = DraftForm()
    if not form.validate_on_submit():
        return json_error(400, first_error(form))
    fields = PostInput(
        title=form.title.data.strip(),
        body=form.body.data or "",
        tags=normalise_tags(form.tags.data or ""),
        status="draft",
    )
    posts = get_data().posts
    try:
        if slug is None:
            post = posts.create(g.user["id"], g.user["username"], fields)
            kind, saved_at = "draft", post.updated_at
        else:
            post, base = owned_post(slug), form.base_time()
            if base is None:
                return json_error(400, "Reload the page: the editor lost track of the post.")
            if post.status == "draft":
                post = posts.update(post, fields, expected_updated_at=base)
                kind, saved_at = "draft", post.updated_at
            else:
                saved_at = posts.save_revision(post, fields, expected_updated_at=base)
                kind = "revision"
    except PostChanged:
        return json_error(
            409,
            "Not saved: this post was saved in another tab or window since you opened it. "
            "Copy your text, then reload the page.",
        )
    except PostGone:
        return json_error(404, "Not saved: this post has been deleted.")
    return jsonify(
        kind=kind,
        saved_at=saved_at,
        base=repr(post.updated_at),
        edit_url=url_for("posts.edit", slug=post.slug),
        autosave_url=url_for("posts.autosave", slug=post.slug),
    )


@bp.post("/posts/<slug>/revision/discard")
@login_required
def discard_revision(slug: str) -> ResponseReturnValue:
    post = owned_post(slug)
    if ConfirmForm().validate_on_submit():
        get_data().posts.discard_revision(post.id)
        flash("Discarded the autosaved changes; the editor shows the published post.")
    return redirect(url_for("posts.edit", slug=post.slug))
