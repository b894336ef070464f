from __future__ import annotations

import time

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import csrf
from ..auth import login_required, require_owner
from ..data import Comment, PostGone, get_data
from ..data.comments import CommentGone
from ..newsletter.announce import notify_comment
from ..posts.forms import ConfirmForm
from ..security import from_other_origin
from . import bp
from .forms import CommentForm


@bp.route("/posts/<slug>/comments", methods=["POST"])
# Cross-site form posts are refused by what the browser says (Sec-Fetch-Site, Origin),
# so a visitor's post page carries no token and is the same for everyone (the cache
# serves it); a request with an author's session still needs the author's token.
@csrf.exempt
def create(slug: str) -> ResponseReturnValue:
    if from_other_origin():
        abort(403, "Comments must be sent from the post's own page on this site.")
    data = get_data()
    post, comments, _ = data.post_page(slug)
    if post is None or not post.is_visible(time.time()):
        abort(404)  # even its author cannot open a draft to comments
    if g.user is not None and current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()  # an author's session: the author's token, as for all they do
    limit = current_app.config["COMMENTS_PER_MINUTE"]
    if not data.limits.hit("comment", request.remote_addr or "unknown", limit):
        abort(429, f"You can post at most {limit} comments a minute. Please wait a moment.")
    form = CommentForm()
    if not form.validate_on_submit():
        return render_template(
            "posts/show.html", post=post, comment_form=form, comments=comments, now=time.time()
        ), 400
    if form.website.data:
        # A bot filled the honeypot: answer as if all went well, store nothing.
        return thanked(post.slug, "thanks")
    moderated = current_app.config["COMMENT_MODERATION"]
    try:
        data.comments.add(
            post.id, post.author_id, form.name.data.strip(), form.body.data, moderated=moderated
        )
        data.confirm_saved()  # on REDIS_WAIT_REPLICAS replicas before we say "thank you"
    except PostGone:
        abort(404)
    notify_comment(post.id)
    return thanked(post.slug, "waiting" if moderated else "thanks")


def thanked(slug: str, notice: str) -> ResponseReturnValue:
    """Back to the post, saying thanks in the URL: no session, so no cookie, and the page
    stays one that every visitor who commented shares (and the cache serves)."""
    return redirect(url_for("posts.show", slug=slug, comment=notice) + "#comments")


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
