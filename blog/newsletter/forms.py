from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from processing.mail import MAX_ADDRESS_LENGTH, normalise_address


def check_address(form: FlaskForm, field: StringField) -> None:
    address = normalise_address(field.data or "")
    if address is None:
        raise ValidationError("Please give an email address like name@example.com.")
    field.data = address


ADDRESS_VALIDATORS = [
    DataRequired("Please give your email address."),
    Length(max=MAX_ADDRESS_LENGTH, message="An email address has at most 254 characters."),
    check_address,
]


class SubscribeForm(FlaskForm):
    class Meta:
        csrf = False  # see blog/newsletter/__init__.py

    email = StringField("Email address", validators=ADDRESS_VALIDATORS)
    # Honeypot, as for comments: hidden from people by CSS, filled in by naive bots.
    website = StringField("Leave this field empty")


class SubscriberForm(FlaskForm):
    """The author's "Remove" button on /admin/subscribers (with a CSRF token)."""

    email = StringField("Email address", validators=ADDRESS_VALIDATORS)
