"""`flask search reindex`: rebuild the search index aside, then switch to it."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..data import get_data
from . import service


@click.group("search", help="Full-text search index.")
def search_cli() -> None:
    pass


@search_cli.command("reindex")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 5000),
    default=200,
    show_default=True,
    help="Posts read and written per Redis round trip (1-5000).",
)
@with_appcontext
def reindex(batch_size: int) -> None:
    """Rebuild the whole index from the posts. Searches keep using the old index until
    the new one is complete, then switch to it at once."""
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="Indexing posts")
            bar.__enter__()
        bar.update(done)

    try:
        outcome = service.reindex(get_data(), progress=progress, batch_size=batch_size)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    click.echo(
        f"Indexed {outcome['posts']:,} posts (generation {outcome['generation']}); "
        f"deleted {outcome['old_keys_deleted']:,} keys of the old index."
    )
