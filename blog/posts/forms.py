from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.fields.core import Field, UnboundField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from ..data import Post, Revision
from ..data.models import MAX_BODY, MAX_TAG_LENGTH, MAX_TAGS, MAX_TITLE

TAG_CHARS = re.compile(r"^[\w-]+$")


def normalise_tags(raw: str) -> list[str]:
    """ "Redis, Background Jobs" -> ["redis", "background-jobs"]: trimmed, lower-cased,
    inner spaces to "-", duplicates dropped, order kept."""
    tags: list[str] = []
    for part in raw.split(","):
        tag = "-".join(part.strip().lower().split())
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def check_tags(form: FlaskForm, field: StringField) -> None:
    tags = normalise_tags(field.data or "")
    if len(tags) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} tags, please (you gave {len(tags)}).")
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.")
        if not TAG_CHARS.match(tag):
            raise ValidationError(f"Tag {tag!r} may only contain letters, digits, '-' and '_'.")


class AppWideToken(HiddenField):
    """`{{ form.csrf_token }}` for a form that leaves the check to CSRFProtect, which
    refuses every POST without a valid token before any view runs (blog/__init__.py).
    flask_wtf's own token field would check it again, and sign a token whenever the form
    is built, shown or not (a saved post answers with a redirect): this one is made only
    when the page shows it."""

    def _value(self) -> str:
        return generate_csrf()


# (unbound field, prefix) -> that field bound once, with no form: see BoundOnceMeta.
_PROTOTYPES: dict[tuple[UnboundField, str], Field] = {}


class BoundOnceMeta:
    """Fields bound once per process, then copied for each form. WTForms builds every
    field anew for each form (label, flags, a check of its validators), most of what a
    form costs before it reads a value: about half of PostForm's time on a create.
    A copy shares those parts, which never change, with the first binding, and gets its
    own form, meta and translations; `process()` then gives it its own data and errors.
    So a view must never change a field's shared parts in place (its choices list, label,
    flags, render_kw): assign new ones, as `field.choices = [...]` does."""

    def bind_field(self, form: FlaskForm, unbound_field: UnboundField, options: dict) -> Field:
        declared = getattr(type(form), options["name"], None) is unbound_field
        if not declared:
            # Not one of the class's own fields (flask_wtf's CSRF field is made anew for
            # each form): bound as WTForms does, never remembered.
            return unbound_field.bind(form=form, **options)
        key = (unbound_field, options.get("prefix", ""))
        prototype = _PROTOTYPES.get(key)
        if prototype is None:
            prototype = unbound_field.bind(form=form, **options)
            prototype._form = prototype.meta = None  # keeps no request's form alive
            prototype.__dict__.pop("_translations", None)
            _PROTOTYPES[key] = prototype
        # Not copy.copy(): Field.__new__ without `_form` makes an UnboundField.
        field = object.__new__(type(prototype))
        field.__dict__.update(prototype.__dict__)
        field._form, field.meta = form, form.meta
        if options.get("translations") is not None:  # what Field.__init__ does with it
            field._translations = options["translations"]
        return field


class PostForm(FlaskForm):
    class Meta(BoundOnceMeta):
        csrf = False  # checked app-wide: see AppWideToken

    title = StringField(
        "Title",
        validators=[
            DataRequired("Give the post a title."),
            Length(1, MAX_TITLE, f"The title must be 1 to {MAX_TITLE} characters long."),
        ],
    )
    body = TextAreaField(
        "Body",
        description="Markdown",
        validators=[
            Length(max=MAX_BODY, message=f"The body must be at most {MAX_BODY:,} characters long.")
        ],
    )
    tags = StringField(
        "Tags", description="Comma separated, e.g. redis, python", validators=[check_tags]
    )
    status = SelectField(
        "Status",
        default="draft",
        choices=[
            SelectChoice("draft", "Draft"),
            SelectChoice("published", "Published"),
            SelectChoice("scheduled", "Scheduled (at the time below)"),
        ],
    )
    publish_at = DateTimeLocalField(
        "Publish at (UTC)", format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    # Sent when the post becomes visible (at once, or at its scheduled time); once only.
    email_subscribers = BooleanField("Email this post to subscribers", default=True)
    # The post's updated_at when the editor loaded it (empty for a post not saved yet):
    # an autosave of a post saved elsewhere since then is refused, never merged.
    base = HiddenField()
    csrf_token = AppWideToken()

    def validate(self, extra_validators: Mapping[str, Sequence] | None = None) -> bool:
        # Not a validate_publish_at(): Optional() stops the chain on an empty field, so an
        # inline validator never saw a scheduled post without a date (then a 500).
        valid = super().validate(extra_validators)
        if (
            self.status.data == "scheduled"
            and self.publish_at.data is None
            and not self.publish_at.errors
        ):
            self.publish_at.errors.append("A scheduled post needs a publish date and time.")
            return False
        return valid

    def publish_timestamp(self) -> float | None:
        if self.status.data != "scheduled" or self.publish_at.data is None:
            return None
        return self.publish_at.data.replace(tzinfo=UTC).timestamp()

    def fill_from(self, post: Post, revision: Revision | None = None) -> None:
        """The post's fields, or its autosaved revision's where there is one."""
        source = revision or post
        self.title.data = source.title
        self.body.data = source.body
        self.tags.data = ", ".join(source.tags)
        self.base.data = repr(post.updated_at)
        self.status.data = post.status
        if post.status == "scheduled":
            self.publish_at.data = datetime.fromtimestamp(post.published_at, UTC).replace(
                tzinfo=None
            )


class DraftForm(FlaskForm):
    """What the editor autosaves: the same fields and limits as PostForm, no status."""

    title = PostForm.title
    body = PostForm.body
    tags = PostForm.tags
    base = PostForm.base

    def base_time(self) -> float | None:
        try:
            return float(self.base.data) if self.base.data else None
        except ValueError:
            return None


class PreviewForm(FlaskForm):
    body = PostForm.body


class ConfirmForm(FlaskForm):
    """A form with nothing but the CSRF token, for confirmations that POST."""
