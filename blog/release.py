"""`flask --app app release`: what a deploy checks before new code takes traffic.

The Procfile's `release` process runs it once per deploy; a failure stops the deploy
with a message that says what to fix. It asks Redis through the data layer, the bucket
through boto3, and registers the schedule through blog/backups/schedule.py.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from .data import get_data
from .queues import app_rq_connection
from .storage import S3Storage, app_storage


def check_redis() -> list[str]:
    """Redis answers, and will not silently evict the blog's data when memory runs out."""
    data = get_data()
    data.ping()
    policy = data.eviction_policy()
    if policy is None:  # managed Redis often forbids CONFIG
        return [
            "could not read maxmemory-policy (CONFIG is disabled here); make sure it is noeviction"
        ]
    if policy != "noeviction":
        raise click.ClickException(
            f"Redis maxmemory-policy is {policy!r}: Redis is this blog's database and must "
            "not evict keys. Set it to noeviction (e.g. `heroku redis:maxmemory --policy "
            "noeviction`, or `CONFIG SET maxmemory-policy noeviction`)."
        )
    return []


def check_media() -> None:
    """With S3, the bucket exists and the credentials may use it."""
    from botocore.exceptions import BotoCoreError, ClientError

    storage = app_storage()
    if not isinstance(storage, S3Storage):
        return
    try:
        storage.client.head_bucket(Bucket=storage.bucket)
    except (BotoCoreError, ClientError) as error:
        raise click.ClickException(
            f"media bucket {storage.bucket!r} is not usable ({error}). Check S3_BUCKET, "
            "S3_ENDPOINT_URL and the AWS_* credentials."
        ) from None


def check_site() -> list[str]:
    """In production, SITE_URL should name the public address (docs/security.md)."""
    config = current_app.config
    if config["APP_ENV"] == "production" and not config["SITE_URL"]:
        return [
            "SITE_URL is not set: feeds and the sitemap take their links from each "
            "request's host, and any host is answered (set SITE_URL=https://your.blog)"
        ]
    return []


def check_mail() -> str:
    """Mail jobs run outside any request: their links need SITE_URL."""
    config = current_app.config
    if not config.get("MAIL_SERVER"):
        return "mail: off (no MAIL_SERVER)"
    if not config.get("SITE_URL") and config.get("APP_ENV") == "production":
        raise click.ClickException(
            "MAIL_SERVER is set but SITE_URL is not: mail would carry no working links. "
            "Set SITE_URL to the blog's public address, e.g. https://blog.example.com"
        )
    return f"mail: via {config['MAIL_SERVER']}:{config['MAIL_PORT']}, links to {config['SITE_URL']}"


def sync_backup_schedule() -> str:
    from .backups.schedule import sync_schedule

    cron = current_app.config["BACKUP_CRON"]
    _, changed = sync_schedule(app_rq_connection(), cron)
    return f"backup schedule {cron!r} (UTC) {'registered' if changed else 'unchanged'}"


def sync_image_cleanup_schedule() -> str:
    from .backups.schedule import IMAGE_CLEANUP, sync_schedule

    cron = current_app.config["IMAGE_CLEANUP_CRON"]
    _, changed = sync_schedule(current_app.extensions["rq_connection"], cron, IMAGE_CLEANUP)
    return f"image cleanup schedule {cron!r} (UTC) {'registered' if changed else 'unchanged'}"


def sync_export_cleanup() -> str:
    from .exports.schedule import CLEANUP_CRON, sync_cleanup_schedule

    changed = sync_cleanup_schedule(app_rq_connection())
    return f"export cleanup {CLEANUP_CRON!r} {'registered' if changed else 'unchanged'}"


def write_missing_cards() -> str:
    """Posts saved before listing cards existed get theirs (blog/data/cards.py): the
    home and tag pages list them without one, but at some Redis cost on every view."""
    written = get_data().posts.write_missing_cards()
    return f"listing cards: {written} written" if written else "listing cards: ok"


@click.command("release")
@with_appcontext
def release_command() -> None:
    """Check Redis, media storage and mail settings; register the nightly backup and the
    image cleanup schedules and the export cleanup; write missing listing cards."""
    warnings = check_redis() + check_site()
    click.echo("redis: ok")
    check_media()
    click.echo("media storage: ok")
    click.echo(check_mail())
    click.echo(sync_backup_schedule())
    click.echo(sync_image_cleanup_schedule())
    click.echo(sync_export_cleanup())
    click.echo(write_missing_cards())
    for warning in warnings:
        click.secho(f"warning: {warning}", fg="yellow")
