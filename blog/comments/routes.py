from __future__ import annotations

import time

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth import login_required, require_owner
from ..data import Comment, PostGone, get_data
from ..data.comments import CommentGone
from ..newsletter.announce import notify_comment
from ..posts.forms import ConfirmForm
from ..posts.routes import load_post_by_slug
from . import bp
from .forms import CommentForm


@bp.route("/posts/<slug>/comments", methods=["POST"])
def create(slug: str) -> ResponseReturnValue:
    post, _ = load_post_by_slug(slug)
    if not post.is_visible(time.time()):
        abort(404)  # even its author cannot open a draft to comments
    data = get_data()
    limit = current_app.config["COMMENTS_PER_MINUTE"]
    if not data.limits.hit("comment", request.remote_addr or "unknown", limit):
        abort(429, f"You can post at most {limit} comments a minute. Please wait a moment.")
    form = CommentForm()
    if not form.validate_on_submit():
        return render_template(
            "posts/show.html",
            post=post,
            comment_form=form,
            comments=data.comments.for_post(post.id),
            now=time.time(),
        ), 400
    if form.website.data:
        # A bot filled the honeypot: answer as if all went well, store nothing.
        flash("Thank you for your comment.")
        return redirect(url_for("posts.show", slug=post.slug))
    moderated = current_app.config["COMMENT_MODERATION"]
    try:
        data.comments.add(
            post.id, post.author_id, form.name.data.strip(), form.body.data, moderated=moderated
        )
        data.confirm_saved()  # on REDIS_WAIT_REPLICAS replicas before we say "thank you"
    except PostGone:
        abort(404)
    notify_comment(post.id)
    flash(
        "Thank you: your comment waits for the author's approval."
        if moderated
        else "Thank you for your comment."
    )
    return redirect(url_for("posts.show", slug=post.slug) + "#comments")


def owned_comment(comment_id: int) -> tuple[Comment, int]:
    data = get_data()
    comment = data.comments.get(comment_id)
    post = data.posts.get(comment.post_id) if comment else None
    if comment is None or post is None:
        abort(404)
    require_owner(post.author_id)
    return comment, post.author_id


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
@login_required
def delete(comment_id: int) -> ResponseReturnValue:
    comment, author_id = owned_comment(comment_id)
    if ConfirmForm().validate_on_submit():
        get_data().comments.delete(comment, author_id)
        flash("Comment deleted.")
    return redirect(request.referrer or url_for("comments.moderation"))


@bp.route("/comments/<int:comment_id>/approve", methods=["POST"])
@login_required
def approve(comment_id: int) -> ResponseReturnValue:
    comment, author_id = owned_comment(comment_id)
    if ConfirmForm().validate_on_submit():
        try:
            get_data().comments.approve(comment, author_id)
        except (PostGone, CommentGone):
            abort(404)
        flash("Comment approved.")
    return redirect(url_for("comments.moderation"))


@bp.route("/moderation")
@login_required
def moderation() -> ResponseReturnValue:
    pending = get_data().comments.pending_for_author(g.user["id"])
    return render_template("comments/moderation.html", comments=pending, form=ConfirmForm())
