"""`flask posts rerender`: render every stored post again with the current renderer."""

from __future__ import annotations

import click

from ..data import get_data
from . import bp


@bp.cli.command("rerender")
def rerender() -> None:
    """Render every stored post's Markdown again (after a renderer change); run once."""
    posts = get_data().posts
    ids = posts.all_ids()
    changed = sum(posts.rerender(post_id) for post_id in ids)
    click.echo(f"Re-rendered {len(ids)} posts: {changed} changed.")
