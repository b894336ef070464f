"""Jobs with a fixed id are enqueued once (RQ's `unique=True`): a repeated enqueue
returns the job already there instead of queueing its id a second time."""

from __future__ import annotations

from rq import Queue

from blog.backups.enqueue import enqueue_backup
from blog.queues import BACKUPS_QUEUE, IMAGES_QUEUE, enqueue_image_cleaning, rq_connection


def test_a_fixed_id_backup_is_queued_once(redis_url, redis_client):
    connection = rq_connection(redis_url)
    first = enqueue_backup(trigger="schedule", connection=connection, job_id="backup-x")
    second = enqueue_backup(trigger="schedule", connection=connection, job_id="backup-x")
    assert first.id == second.id == "backup-x"
    assert Queue(BACKUPS_QUEUE, connection=connection).get_job_ids() == ["backup-x"]


def test_backups_without_an_id_are_separate_runs(app, redis_url):
    with app.app_context():
        enqueue_backup(trigger="web")
        enqueue_backup(trigger="web")
    assert Queue(BACKUPS_QUEUE, connection=rq_connection(redis_url)).count == 2


def test_an_image_is_queued_for_cleaning_once(app, redis_url):
    with app.app_context():
        first = enqueue_image_cleaning("abcdefgh")
        second = enqueue_image_cleaning("abcdefgh")
    assert first.id == second.id == "clean-image-abcdefgh"
    queue = Queue(IMAGES_QUEUE, connection=rq_connection(redis_url))
    assert queue.get_job_ids() == ["clean-image-abcdefgh"]
