"""`flask export markdown|epub [--tag TAG] [--out FILE]`: the same build as the page's
job, run here with a progress bar (operators, scripts)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..data import get_data
from ..documents.progressbar import TerminalProgress
from . import service

MB = 1024 * 1024


def _check_tag(fmt: str, tag: str | None) -> str:
    from ..posts.forms import MAX_TAG_LENGTH  # blog.posts imports blog.comments first

    if not tag:
        return ""
    if fmt != "epub":
        raise click.BadParameter("only an EPUB book can be limited to one tag", param_hint="--tag")
    if len(tag) > MAX_TAG_LENGTH:
        raise click.BadParameter(
            f"a tag is at most {MAX_TAG_LENGTH} characters long", param_hint="--tag"
        )
    if not get_data().exports.tag_has_posts(tag):
        raise click.BadParameter(f"no published post has the tag {tag!r}", param_hint="--tag")
    return tag


def _check_out(out: str | None, default_name: str) -> Path:
    path = Path(out or default_name)
    if len(str(path)) > 4096:
        raise click.BadParameter("the path is longer than 4096 characters", param_hint="--out")
    if path.is_dir():
        raise click.BadParameter(f"{path} is a directory; give a file name", param_hint="--out")
    if not path.parent.is_dir():
        raise click.BadParameter(f"the folder {path.parent} does not exist", param_hint="--out")
    return path


@click.command("export")
@click.argument("fmt", metavar="markdown|epub", type=click.Choice(sorted(service.FORMATS)))
@click.option("--tag", help="EPUB only: just the posts with this tag.")
@click.option("--out", help="File to write (default: <blog>-<date>.zip or .epub here).")
@with_appcontext
def export_command(fmt: str, tag: str | None, out: str | None) -> None:
    """Export the blog as a Markdown site bundle or an EPUB book (docs/export.md).

    The bundle holds every published and scheduled post and every author's drafts; the
    book, the posts published now.
    """
    tag = _check_tag(fmt, tag)
    config = current_app.config
    path = _check_out(out, service.download_name(config["BLOG_TITLE"], fmt, tag, datetime.now(UTC)))
    data = get_data()
    partial = path.with_name(f".{path.name}.part")
    bar = TerminalProgress("writing", "posts")
    try:
        with partial.open("wb") as stream:
            counts = service.build_document(
                data,
                current_app.extensions["media_storage"],
                config,
                fmt=fmt,
                out=stream,
                tag=tag,
                draft_authors=data.users.all_ids() if fmt == "markdown" else [],
                progress=bar,
            )
        os.replace(partial, path)
    finally:
        bar.close()
        partial.unlink(missing_ok=True)
    click.echo(
        f"Wrote {path} ({counts['bytes'] / MB:.1f} MB): {counts['posts']} posts, "
        f"{counts['images']} images, {counts['comments']} comments."
    )
