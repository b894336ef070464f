from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

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
            Length(1, 80, "The name must be 1 to 80 characters long."),
        ],
    )
    body = TextAreaField(
        "Comment",
        validators=[
            DataRequired("The comment is empty."),
            Length(1, 5000, "A comment must be 1 to 5,000 characters long."),
        ],
    )
    # Honeypot: hidden from people by CSS, filled in by naive bots.
    website = StringField("Leave this field empty")
