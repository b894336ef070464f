"""`flask import wordpress FILE [--author NAME]`: the page's import, run here with a
progress bar (the images still go to the workers' cleaning job)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..data import User, get_data
from ..documents.progressbar import TerminalProgress
from ..queues import enqueue_image_cleaning
from ..storage import app_storage
from .service import Importer, fetcher_from

MAX_AUTHOR_NAME = 100


def _author(name: str | None) -> User:
    users = get_data().users
    if name is not None:
        if len(name) > MAX_AUTHOR_NAME:
            raise click.BadParameter(
                f"an author name is at most {MAX_AUTHOR_NAME} characters", param_hint="--author"
            )
        found = users.by_username(name)
        if found is None:
            raise click.BadParameter(f"no author is called {name!r}", param_hint="--author")
        return found
    ids = users.all_ids()
    if len(ids) != 1:
        raise click.BadParameter(
            "say which author owns the imported posts"
            if ids
            else "create an author first (flask create-user NAME)",
            param_hint="--author",
        )
    author = users.get(ids[0])
    assert author is not None
    return author


@click.group("import")
def import_group() -> None:
    """Import another blog's content."""


@import_group.command("wordpress")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--author", help="The author who owns the imported posts (needed with several).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@with_appcontext
def wordpress_command(file: Path, author: str | None, as_json: bool) -> None:
    """Import a WordPress export file (WXR 1.0-1.2): posts, tags, approved comments and
    images (docs/import.md). Running it again adds only what is not here yet."""
    limit_mb = current_app.config["MAX_IMPORT_MB"]
    if file.stat().st_size > limit_mb * 1024 * 1024:
        raise click.BadParameter(f"the file is larger than {limit_mb} MB (MAX_IMPORT_MB)")
    owner = _author(author)
    importer = Importer(
        get_data(), app_storage(), owner, fetcher_from(current_app.config), enqueue_image_cleaning
    )
    bar = TerminalProgress("importing", "items")
    try:
        report = importer.run(lambda: file.open("rb"), bar)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print(report)
    if report["error"]:
        raise click.ClickException(report["error"])


def _print(report: dict) -> None:
    click.echo(
        f"Imported {report['posts']} posts, {report['comments']} comments, "
        f"{report['tags']} tags, {report['images']} images."
    )
    for what, count in report["already"].items():
        click.echo(f"Already here (imported before): {count} {what}.")
    if report["skipped_total"]:
        click.echo(f"Skipped {report['skipped_total']}:")
        for skip in report["skipped"]:
            click.echo(f"  {skip['item']}: {skip['reason']}")
