"""`flask posts rerender`: render every stored post again with today's renderer;
`flask posts cards`: write every post's listing card (after upgrading to cards)."""

from __future__ import annotations

import click

from ..data import get_data
from ..templating import plural
from . import bp


@bp.cli.command("rerender")
def rerender_command() -> None:
    """Render every post's HTML, excerpt, cover and reading time again (after an upgrade
    that changed them); titles, bodies, dates and URLs stay as they are."""
    posts = get_data().posts
    done = sum(posts.rerender(post_id) for post_id in range(1, posts.last_id() + 1))
    click.echo(f"Rendered {plural(done, 'post')} again.")


@bp.cli.command("cards")
def cards_command() -> None:
    """Write every post's listing card (what the home and tag pages read of it). Posts
    saved before cards existed list correctly without one, at the cost of some Redis time
    on each listing; run this once after that upgrade. `rerender` writes them too."""
    done = get_data().posts.write_cards()
    click.echo(f"Wrote the listing cards of {plural(done, 'post')}.")
