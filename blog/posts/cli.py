"""`flask posts rerender`: render every stored post again with today's renderer."""

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
