from __future__ import annotations

import time

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..auth import login_required, require_owner
from ..comments.forms import COMMENT_NOTICES, blank_comment_fields
from ..data import Post, PostGone, PostInput, get_data
from ..newsletter.announce import cancel_announcement, plan_announcement, wants_announcement
from ..pagecache import cached_for_visitors, page_of_post
from ..rendering import MEDIA_ID
from ..uploads.routes import describe
from . import bp
from .forms import ConfirmForm, PostForm, normalise_tags

MAX_PAGE = 10_000  # far past any real blog; keeps ZRANGE offsets sane


def page_number() -> int:
    """?page=N with N a whole number from 1; anything else is a 404, never a 500."""
    raw = request.args.get("page", "1")
    # ASCII only: "²".isdigit() is True but int("²") raises; so does int() of 4,301 digits.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 9 or not 1 <= int(raw) <= MAX_PAGE:
        abort(404)
    return int(raw)


def per_page() -> int:
    return current_app.config["POSTS_PER_PAGE"]


@bp.route("/")
@cached_for_visitors
def index() -> ResponseReturnValue:
    page = get_data().posts.page(page_number(), per_page())
    if not page.items and page.number > 1:
        abort(404)
    return render_template("posts/index.html", page=page)


@bp.route("/tags")
@cached_for_visitors
def tags() -> ResponseReturnValue:
    return render_template("posts/tags.html", tags=get_data().posts.tag_counts())


@bp.route("/tags/<tag>")
@cached_for_visitors
def tag(tag: str) -> ResponseReturnValue:
    page = get_data().posts.page(page_number(), per_page(), tag=tag)
    if not page.items:
        abort(404)
    return render_template("posts/index.html", page=page, tag=tag)


def post_id_for(slug: str) -> int:
    post_id = get_data().posts.id_for_slug(slug)
    if post_id is None:
        abort(404)
    return post_id


def ensure_readable(post: Post | None) -> Post:
    if post is None:
        abort(404)
    if not post.is_visible(time.time()) and (g.user is None or g.user["id"] != post.author_id):
        abort(404)  # drafts and future posts exist only for their author
    return post


def load_post_by_slug(slug: str) -> tuple[Post, bool]:
    """The post and whether the slug was an old one (then the caller redirects)."""
    post = ensure_readable(get_data().posts.get(post_id_for(slug)))
    return post, post.slug != slug


@bp.route("/posts/<slug>")
@cached_for_visitors
def show(slug: str) -> ResponseReturnValue:
    post, comments, (older, newer) = get_data().post_page(slug)
    post = ensure_readable(post)
    if post.slug != slug:
        return redirect(url_for("posts.show", slug=post.slug), 301)
    page_of_post(post.id)
    return render_template(
        "posts/show.html",
        post=post,
        comments=comments,
        comment_form=None,
        comment_fields=blank_comment_fields(),
        notice=COMMENT_NOTICES.get(request.args.get("comment", "")),
        now=time.time(),
        older=older,
        newer=newer,
    )


@bp.route("/dashboard")
@login_required
def dashboard() -> ResponseReturnValue:
    posts = get_data().posts.by_author(g.user["id"])
    return render_template("posts/dashboard.html", posts=posts, now=time.time())


def post_input(form: PostForm) -> PostInput:
    return PostInput(
        title=form.title.data.strip(),
        body=form.body.data or "",
        tags=normalise_tags(form.tags.data or ""),
        status=form.status.data,
        publish_at=form.publish_timestamp(),
    )


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def create() -> ResponseReturnValue:
    form = PostForm()
    if form.validate_on_submit():
        post = get_data().posts.create(g.user["id"], g.user["username"], post_input(form))
        plan_announcement(post, form.email_subscribers.data, created=True)
        flash(f"Saved “{post.title}” as {post.status}.")
        return redirect(url_for("posts.show", slug=post.slug))
    return editor_page(form, None)


def editor_page(form: PostForm, post: Post | None) -> ResponseReturnValue:
    """The editor; a published post opens with its autosaved revision, if it has one."""
    revision = announcement = None
    if post is not None:
        announcement = get_data().announcements.get(post.id)
        if post.status != "draft":
            revision = get_data().posts.revision(post.id)
        if request.method == "GET":
            form.fill_from(post, revision)
            form.email_subscribers.data = wants_announcement(post, announcement)
    page = render_template(
        "posts/edit.html",
        form=form,
        post=post,
        revision=revision,
        announcement=announcement,
        images=panel_images(form.body.data or ""),
        discard_form=ConfirmForm(),
    )
    return page, 400 if form.errors else 200


def panel_images(body: str) -> list[dict]:
    """The uploaded images a body shows, in order, for the editor's images panel (the
    same shape as the upload status answer)."""
    ids = list(dict.fromkeys(MEDIA_ID.findall(body)))
    records = get_data().images.get_many(ids)
    return [describe(records[i]) for i in ids if i in records]


def owned_post(slug: str) -> Post:
    post, _ = load_post_by_slug(slug)
    require_owner(post.author_id)
    return post


@bp.route("/posts/<slug>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str) -> ResponseReturnValue:
    post = owned_post(slug)
    form = PostForm()
    if form.validate_on_submit():
        try:
            post = get_data().posts.update(post, post_input(form))
        except PostGone:
            abort(404)  # deleted (in another tab) since the form was opened
        plan_announcement(post, form.email_subscribers.data)
        flash(f"Saved “{post.title}” as {post.status}.")
        return redirect(url_for("posts.show", slug=post.slug))
    return editor_page(form, post)


@bp.route("/posts/<slug>/delete", methods=["GET", "POST"])
@login_required
def delete(slug: str) -> ResponseReturnValue:
    post = owned_post(slug)
    form = ConfirmForm()
    if form.validate_on_submit():
        cancel_announcement(post.id)
        get_data().posts.delete(post)
        flash(f"Deleted “{post.title}”.")
        return redirect(url_for("posts.dashboard"))
    return render_template("posts/delete.html", post=post, form=form)
