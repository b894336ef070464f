"""`flask create-user NAME`: the way authors come into being."""

from __future__ import annotations

import re
import sys

import click
from flask.cli import with_appcontext

from ..data import UsernameTaken, get_data

USERNAME = re.compile(r"^[a-z0-9_.-]{1,40}$")
MIN_PASSWORD, MAX_PASSWORD = 8, 200


def validate_username(name: str) -> str:
    name = name.strip().lower()
    if not USERNAME.match(name):
        raise click.BadParameter(
            "use 1-40 characters: letters a-z, digits, '.', '_' or '-'", param_hint="NAME"
        )
    return name


def validate_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise click.BadParameter(
            f"the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long",
            param_hint="password",
        )
    return password


def validate_email(
    ctx: click.Context | None, param: click.Parameter | None, value: str | None
) -> str:
    """--email: a plain address (normalised) or nothing."""
    from processing.mail import normalise_address

    if not value:
        return ""
    address = normalise_address(value)
    if address is None:
        raise click.BadParameter("give an address like name@example.com", param_hint="--email")
    return address


@click.command("create-user")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option(
    "--email",
    default="",
    callback=validate_email,
    help="The author's address, for comment notices and password resets.",
)
@with_appcontext
def create_user(name: str, password_stdin: bool, email: str) -> None:
    """Create an author called NAME (asks for the password twice)."""
    name = validate_username(name)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    validate_password(password)
    try:
        user = get_data().users.create(name, password, email)
    except UsernameTaken:
        raise click.ClickException(f"an author called {name!r} already exists") from None
    click.echo(f"Created author {user.username!r} (id {user.id}).")
