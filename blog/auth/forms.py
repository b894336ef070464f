from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..newsletter.forms import check_address
from .cli import MAX_PASSWORD, MIN_PASSWORD

PASSWORD_LENGTH = Length(
    MIN_PASSWORD,
    MAX_PASSWORD,
    f"The password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long.",
)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=40)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class EmailForm(FlaskForm):
    email = StringField(
        "Email",
        description="Comment notices and password reset links go here.",
        validators=[
            DataRequired("Please give an email address."),
            Length(max=254, message="An email address has at most 254 characters."),
            check_address,
        ],
    )


class NewPasswordForm(FlaskForm):
    new_password = PasswordField(
        "New password", validators=[DataRequired("Choose a new password."), PASSWORD_LENGTH]
    )
    repeat_password = PasswordField(
        "Repeat new password",
        validators=[EqualTo("new_password", "The two passwords differ.")],
    )


class PasswordChangeForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired("Give your current password."), Length(max=MAX_PASSWORD)],
    )


class ForgotForm(FlaskForm):
    login = StringField(
        "Username or email",
        validators=[
            DataRequired("Give your username or email address."),
            Length(max=254, message="At most 254 characters, please."),
        ],
    )
