from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..data.models import MAX_COMMENT, MAX_COMMENT_NAME


class CommentForm(FlaskForm):
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
