"""`flask backup run|list|verify|restore|schedule`."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TextIO

import click
from flask import current_app
from flask.cli import with_appcontext

from processing.archive import ArchiveError

from ..data import get_data
from ..queues import app_rq_connection
from ..storage import app_storage
from . import service
from .enqueue import enqueue_backup
from .schedule import BadCron, next_run, registered, sync_schedule
from .targets import BackupNotFound, TargetError, app_target

MB = 1024 * 1024


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


class ProgressLine:
    """One status line redrawn in place on a terminal (a bar once the media size is
    known); a line every few seconds when output is not a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.state: dict[str, tuple[int, int | None]] = {}
        self._last = 0.0

    def __call__(self, step: str, done: int, total: int | None) -> None:
        self.state[step] = (done, total)
        now = time.monotonic()
        if now - self._last >= (0.1 if self.tty else 5.0):
            self._last = now
            self.draw()

    def render(self) -> str:
        parts = []
        if "data" in self.state:
            parts.append(f"data: {self.state['data'][0]:,} records")
        if "media" in self.state:
            done, total = self.state["media"]
            width = 24
            filled = int(width * done / total) if total else width
            parts.append(
                f"images: [{'#' * filled}{'.' * (width - filled)}] "
                f"{done / MB:.1f}/{(total or 0) / MB:.1f} MB"
            )
        if "archive" in self.state:
            parts.append(f"archive: {self.state['archive'][0] / MB:.1f} MB")
        return " | ".join(parts)

    def draw(self, final: bool = False) -> None:
        text = self.render()
        if self.tty:
            click.echo("\r" + text.ljust(100), file=self.stream, nl=final)
        elif text:
            click.echo(text, file=self.stream)


@click.group("backup")
def backup_cli() -> None:
    """Back up, list, verify and restore the blog's data and images (docs/backup.md)."""


@backup_cli.command("run")
@click.option(
    "--enqueue",
    is_flag=True,
    help="Hand the backup to a worker (the 'backups' queue) instead of running it here.",
)
@with_appcontext
def run_command(enqueue: bool) -> None:
    """Back up now: all data and images, to S3 or BACKUP_ROOT."""
    if enqueue:
        job = enqueue_backup(trigger="cli")
        click.echo(f"Queued backup job {job.id} on the 'backups' queue.")
        return
    target = app_target()
    click.echo(f"Backing up to {target.description}")
    progress = ProgressLine()
    try:
        outcome = service.run_backup(
            get_data(),
            app_storage(),
            target,
            current_app.config,
            progress=progress,
            trigger="cli",
        )
    except service.BackupBusy as error:
        raise _fail(str(error)) from None
    except Exception as error:
        progress.draw(final=True)
        raise _fail(f"backup failed (recorded in Redis): {type(error).__name__}: {error}") from None
    progress.draw(final=True)
    counts = outcome["counts"]
    click.echo(
        f"Backed up to {outcome['key']} ({outcome['size'] / MB:.1f} MB, sha256 "
        f"{outcome['sha256'][:16]}...): {_counts(counts)}."
    )
    if counts.get("images_missing_media"):
        click.echo(
            f"Warning: {counts['images_missing_media']} ready image(s) had missing "
            "files; they are flagged in the archive and restore as failed."
        )
    if outcome.get("deleted"):
        click.echo(f"Retention deleted {len(outcome['deleted'])} old backup(s).")
    if outcome.get("retention_error"):
        click.echo(f"Warning: retention failed: {outcome['retention_error']}")


def _counts(counts: dict | None) -> str:
    if not counts:
        return "-"
    return (
        f"{counts.get('posts', 0)} posts, {counts.get('comments', 0)} comments, "
        f"{counts.get('users', 0)} authors, {counts.get('images', 0)} images, "
        f"{counts.get('media_files', 0)} files"
    )


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@backup_cli.command("list")
@with_appcontext
def list_command() -> None:
    """The stored backups, newest first, with what each run recorded."""
    target = app_target()
    try:
        backups = target.list(with_checksums=True)
    except Exception as error:
        raise _fail(f"cannot list {target.description}: {type(error).__name__}: {error}") from None
    runs = get_data().backups.runs(200)
    outcomes = {run.get("key"): run for run in runs if run.get("ok")}
    click.echo(f"Backups in {target.description}")
    rows = [("KEY", "TIME (UTC)", "SIZE", "COUNTS", "OK")]
    for b in backups:
        outcome = outcomes.get(b.key)
        rows.append(
            (
                b.key,
                b.created_at.strftime("%Y-%m-%d %H:%M:%SZ"),
                f"{(b.size or 0) / MB:.1f} MB",
                _counts(outcome["counts"]) if outcome else "(not recorded here)",
                "yes" if b.good else "NO (no checksum)",
            )
        )
    if len(rows) == 1:
        click.echo("No backups yet: `flask backup run` makes one.")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        for row in rows:
            click.echo(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
    if runs and not runs[0].get("ok"):
        click.echo(f"Last run FAILED at {_when(runs[0].get('started_at'))}: {runs[0].get('error')}")


@backup_cli.command("verify")
@click.argument("key")
@with_appcontext
def verify_command(key: str) -> None:
    """Download backup KEY and check every checksum and every record."""
    target = app_target()
    try:
        info, manifest = service.verify_backup(target, key)
    except BackupNotFound as error:
        raise _fail(str(error)) from None
    except (ArchiveError, TargetError) as error:
        raise _fail(f"backup {key} is NOT usable: {error}") from None
    members = len(manifest["members"])
    click.echo(
        f"OK: {key} is a complete, intact backup made {manifest['created_at']} "
        f"({(info.size or 0) / MB:.1f} MB, sha256 {info.sha256}, {members} members: "
        f"{_counts(manifest['counts'])})."
    )


@backup_cli.command("restore")
@click.argument("key")
@click.option(
    "--force",
    is_flag=True,
    help="Delete the blog data already in Redis and replace it with the backup.",
)
@with_appcontext
def restore_command(key: str, force: bool) -> None:
    """Restore backup KEY into Redis and media storage (checked in full first)."""
    target = app_target()
    click.echo(f"Checking {key} before writing anything...")
    try:
        result = service.restore_backup(get_data(), app_storage(), target, key, force=force)
    except BackupNotFound as error:
        raise _fail(str(error)) from None
    except (ArchiveError, TargetError) as error:
        raise _fail(f"backup {key} is NOT usable, nothing was restored: {error}") from None
    except (service.RestoreRefused, service.BackupBusy, service.RestoreFailed) as error:
        raise _fail(str(error)) from None
    click.echo(
        f"Restored {key} (made {result['created_at']}): {result['posts']} posts, "
        f"{result['comments']} comments, {result['users']} authors, {result['images']} "
        f"images ({result['media_files']} files), {result['other_keys']} other keys; "
        f"indexes rebuilt for {result['indexes']['posts']} visible posts and "
        f"{result['indexes']['tags']} tags."
    )
    if result["images_failed_by_restore"]:
        click.echo(
            f"{result['images_failed_by_restore']} image(s) were still processing or "
            "had missing files at backup time: they are now failed (upload again)."
        )
    if force and result["deleted_keys"]:
        click.echo(f"Replaced {result['deleted_keys']} keys that were there before.")


@backup_cli.command("schedule")
@click.option("--cron", help="Cron expression in UTC (default: BACKUP_CRON).")
@with_appcontext
def schedule_command(cron: str | None) -> None:
    """Register the nightly backup with rq-scheduler (UTC) and show the next run."""
    cron = cron if cron is not None else current_app.config["BACKUP_CRON"]
    connection = app_rq_connection()
    try:
        _, changed = sync_schedule(connection, cron)
    except BadCron as error:
        raise click.BadParameter(str(error), param_hint="'--cron' / BACKUP_CRON") from None
    _, when = registered(connection) or (None, next_run(cron))
    click.echo(
        f"Nightly backup {'registered' if changed else 'already registered'}: "
        f"'{cron}' in UTC; next run {when:%Y-%m-%d %H:%M}Z. "
        "The `scheduler` process enqueues it."
    )
