from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, ValidationError
from wtforms.fields.choices import SelectChoice

from .service import FORMATS


def known_tag(form: FlaskForm, field: SelectField) -> None:
    from ..posts.forms import MAX_TAG_LENGTH  # blog.posts imports blog.comments first

    if len(field.data or "") > MAX_TAG_LENGTH:
        raise ValidationError(f"A tag is at most {MAX_TAG_LENGTH} characters long.")
    if field.data not in {choice.value for choice in field.choices}:
        raise ValidationError(f"No published post has the tag {field.data!r}.")


class BuildForm(FlaskForm):
    format = RadioField(
        "Format",
        choices=[SelectChoice(f.name, f.label) for f in FORMATS.values()],
        default="markdown",
        validate_choice=False,
        validators=[],
    )
    # Choices (tags with visible posts) are set by the view.
    tag = SelectField(
        "Tag (EPUB only)",
        choices=[SelectChoice("", "All posts")],
        default="",
        validate_choice=False,
        validators=[known_tag],
    )

    def validate_format(self, field: RadioField) -> None:
        if field.data not in FORMATS:
            raise ValidationError("Choose a format: Markdown site bundle or EPUB book.")


class CancelForm(FlaskForm):
    format = SelectField(choices=[SelectChoice(f.name, f.label) for f in FORMATS.values()])
