from __future__ import annotations

from flask import current_app, get_template_attribute
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..data.models import MAX_COMMENT, MAX_COMMENT_NAME

# What the post page says after a comment, chosen by ?comment= (no session, no flash).
COMMENT_NOTICES = {
    "thanks": "Thank you for your comment.",
    "waiting": "Thank you: your comment waits for the author's approval.",
}


class CommentForm(FlaskForm):
    class Meta:
        # Visitors' comments are guarded by origin instead (comments.routes), so the post
        # page holds no per-visitor token; authors' comment posts still need theirs.
        csrf = False

    name = StringField(
        "Name",
        validators=[
            DataRequired("Please give a name."),
            Length(
                1, MAX_COMMENT_NAME, f"The name must be 1 to {MAX_COMMENT_NAME} characters long."
            ),
        ],
    )
    body = TextAreaField(
        "Comment",
        validators=[
            DataRequired("The comment is empty."),
            Length(1, MAX_COMMENT, f"A comment must be 1 to {MAX_COMMENT:,} characters long."),
        ],
    )
    # Honeypot: hidden from people by CSS, filled in by naive bots.
    website = StringField("Leave this field empty")


def blank_comment_fields() -> Markup:
    """The empty form's fields, rendered once per process: WTForms' widgets are a sixth
    of an uncached post page's time, and they always render the same."""
    cached = current_app.extensions.get("blank_comment_fields")
    if cached is None:
        macro = get_template_attribute("posts/_comment_fields.html", "render_comment_fields")
        cached = current_app.extensions["blank_comment_fields"] = macro(CommentForm(formdata=None))
    return cached
