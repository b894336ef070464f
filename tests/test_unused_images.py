"""Images no post uses (issue 12): a deleted post's images answer 404 at once; the
scheduled cleanup job (a real rq worker) deletes unused images from media storage; backups
stop counting them. Real Redis, real worker, local media storage."""

from __future__ import annotations

import io

import redis
from PIL import Image
from rq import Queue

from blog.backups.schedule import IMAGE_CLEANUP, registered, sync_schedule
from blog.data import ImageVariant, PostInput
from blog.data.records import Exporter
from blog.media_cleanup import remove_unused_images
from blog.queues import IMAGES_QUEUE, enqueue_image_cleanup
from tests.helpers import add_post, new_post

DAY = 24 * 3600


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


def uploaded(client, burst_worker) -> dict:
    answer = client.post(
        "/uploads",
        data={"image": (io.BytesIO(png()), "pic.png")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 202
    burst_worker("images")
    info = client.get(answer.get_json()["status_url"]).get_json()
    assert info["status"] == "ready"
    return info


def fake_image(data, owner_id: int) -> str:
    """A ready image record (no files needed for the bookkeeping tests)."""
    record = data.images.create(owner_id, "PNG", "png", "image/png", 10, "x.png")
    data.images.mark_ready(record.id, 32, 24, [], [ImageVariant("original", 32, 24, 10)])
    return record.id


def markdown(image_id: str) -> str:
    return f"![alt](/media/{image_id}/original.png)"


def unused(redis_client) -> dict[str, float]:
    return dict(redis_client.zrange("blog:images:unused", 0, -1, withscores=True))


def test_deleted_posts_image_is_404_at_once_and_the_job_deletes_its_files(
    app, client, auth, data, burst_worker, media_root, redis_client
):
    auth.login()
    info = uploaded(client, burst_worker)
    files = sorted(p.relative_to(media_root) for p in media_root.rglob("*") if p.is_file())
    assert files and all(str(f).startswith(f"images/{info['id']}/") for f in files)
    new_post(client, title="Pictured", body=f"![a photo]({info['url']})")
    assert info["id"] not in unused(redis_client)  # in use
    assert client.get(info["url"]).status_code == 200

    client.post("/posts/pictured/delete")
    assert client.get(info["url"]).status_code == 404  # at once, before any job
    assert unused(redis_client)[info["id"]] == 0  # due now
    assert (media_root / files[0]).exists()

    with app.app_context():
        job = enqueue_image_cleanup()
        assert job.retries_left == 3  # a killed worker never loses it
        assert enqueue_image_cleanup().id == job.id  # one per hour
    burst_worker("images")
    assert not [p for p in media_root.rglob("*") if p.is_file()]
    assert not redis_client.exists(f"blog:image:{info['id']}")
    assert info["id"] not in unused(redis_client)
    assert client.get(info["url"]).status_code == 404


def test_uploads_never_used_for_a_day_are_deleted(data, auth, app):
    author = auth.create()
    old, fresh = fake_image(data, author.id), fake_image(data, author.id)
    used = fake_image(data, author.id)
    add_post(data, author, "Uses one", body=markdown(used))
    created = data.images.get(fresh).created_at
    storage = app.extensions["media_storage"]
    data.redis.zadd(data.keys.unused_images, {old: created - DAY - 60})  # uploaded yesterday
    assert remove_unused_images(data, storage, 24, now=created + 60) == 1
    assert data.images.get(old) is None
    assert data.images.get(fresh) is not None and data.images.get(used) is not None
    assert remove_unused_images(data, storage, 24, now=created + DAY + 1) == 1  # fresh's turn
    assert data.images.get(used) is not None  # a post shows it: never deleted
    assert data.redis.zrange(data.keys.user_images(author.id), 0, -1) == [used]


def test_use_is_counted_across_posts_and_edits(data, auth, redis_client):
    author = auth.create()
    image = fake_image(data, author.id)
    first = add_post(data, author, "First", body=markdown(image))
    second = add_post(data, author, "Second", body=markdown(image))
    assert redis_client.smembers(f"blog:image:{image}:posts") == {str(first.id), str(second.id)}
    data.posts.delete(first)
    assert data.images.get(image).status == "ready"  # the second post still shows it
    assert image not in unused(redis_client)

    # Taken out of the last post: unused from now (the author may put it back).
    second = data.posts.update(
        second, PostInput(title="Second", body="No picture", tags=[], status="published")
    )
    assert unused(redis_client)[image] > 0
    assert data.images.get(image).status == "ready"
    data.posts.update(
        second, PostInput(title="Second", body=markdown(image), tags=[], status="published")
    )
    assert image not in unused(redis_client)
    assert redis_client.smembers(f"blog:post:{second.id}:images") == {image}


def test_a_post_used_again_before_the_job_runs_keeps_its_image(data, auth, app):
    author = auth.create()
    image = fake_image(data, author.id)
    data.redis.zadd(data.keys.unused_images, {image: 0})
    add_post(data, author, "Back in use", body=markdown(image))
    data.redis.zadd(data.keys.unused_images, {image: 0})  # a stale entry, say
    assert remove_unused_images(data, app.extensions["media_storage"], 24) == 0
    assert data.images.get(image).status == "ready"


def test_backups_stop_counting_a_deleted_posts_image(data, auth):
    author = auth.create()
    kept, gone = fake_image(data, author.id), fake_image(data, author.id)
    add_post(data, author, "Keeps", body=markdown(kept))
    doomed = add_post(data, author, "Goes", body=markdown(gone))
    data.posts.delete(doomed)
    exporter = Exporter(data.redis, data.keys, media_size=lambda key: 10)
    names = {record["key"] for record in exporter.records()}
    assert f"image:{kept}" in names and f"image:{gone}" not in names
    assert exporter.counts.images == 1
    assert all(f"images/{gone}/" not in key for key, _ in exporter.media_files())


def test_cleanup_schedule_is_registered_hourly(app, redis_client):
    connection = app.extensions["rq_connection"]
    job, changed = sync_schedule(connection, app.config["IMAGE_CLEANUP_CRON"], IMAGE_CLEANUP)
    assert changed and job.func_name == "jobs.images.scheduled_cleanup"
    assert job.origin == IMAGES_QUEUE
    assert registered(connection, IMAGE_CLEANUP)[0].id == "image-cleanup"
    assert registered(connection) is None  # the nightly backup is a job of its own
    assert sync_schedule(connection, "30 * * * *", IMAGE_CLEANUP)[1] is False


def test_the_enqueuer_enqueues_one_cleanup_with_retries(worker_env, redis_client, monkeypatch):
    import jobs.context
    from jobs.images import scheduled_cleanup

    for name, value in worker_env.items():
        monkeypatch.setenv(name, value)
    jobs.context.settings.cache_clear()
    try:
        first, second = scheduled_cleanup(), scheduled_cleanup()
    finally:
        jobs.context.settings.cache_clear()
    assert first == second
    queue = Queue(IMAGES_QUEUE, connection=redis.Redis.from_url(worker_env["REDIS_URL"]))
    assert queue.job_ids == [first]
    assert queue.fetch_job(first).retries_left == 3


def test_a_deleted_post_never_recreates_a_cleaned_image(data, auth, redis_client):
    author = auth.create()
    image = fake_image(data, author.id)
    post = add_post(data, author, "Short-lived", body=markdown(image))
    redis_client.delete(f"blog:image:{image}")  # already cleaned up meanwhile
    data.posts.delete(post)
    assert not redis_client.exists(f"blog:image:{image}")  # no half record with a status
