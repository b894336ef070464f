"""The /import page and `flask import wordpress`, with real rq workers, Redis, media
storage and a local image server: the mapping rules, the report, images cleaned, a
second import adding nothing, limits, bad files."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from PIL import Image

from blog.data.keys import Keys
from tests.helpers import assert_site_layout, csrf_token, login_with_token
from tests.import_helpers import WXR, fixture_file, image_server
from tests.invariants import assert_consistent

GMT_2024_01_02_10 = datetime(2024, 1, 2, 10, tzinfo=UTC).timestamp()


@pytest.fixture
def import_env(worker_env) -> dict[str, str]:
    return {**worker_env, "IMPORT_ALLOW_PRIVATE_HOSTS": "1", "IMPORT_IMAGE_TIMEOUT": "5"}


def upload(client, path, name: str | None = None):
    with path.open("rb") as f:
        return client.post(
            "/import",
            data={"file": (f, name or path.name)},
            content_type="multipart/form-data",
        )


def run_import(client, burst_worker, import_env, path) -> str:
    assert upload(client, path).status_code == 302
    burst_worker("documents", "images", env=import_env, timeout=120)
    return client.get("/import").get_data(as_text=True)


def posts_by_title(data, author_id: int) -> dict:
    found: dict = {}
    for summary in data.posts.by_author(author_id):
        found.setdefault(summary.title, []).append(data.posts.get(summary.id))
    return found


def test_import_page_in_navigation_for_authors(client, auth):
    assert client.get("/import").status_code == 302  # visitors go to the login page
    auth.login()
    page = client.get("/").get_data(as_text=True)
    assert 'href="/import">Import</a>' in page
    page = client.get("/import").get_data(as_text=True)
    assert_site_layout(page)
    assert re.search(r'<button type="submit">Import</button>', page)
    assert 'type="file"' in page and 'enctype="multipart/form-data"' in page


def test_full_import_maps_everything(
    client, auth, data, redis_client, burst_worker, import_env, tmp_path, media_root
):
    auth.login()
    owner = data.users.by_username("alice")
    with image_server() as server:
        path = fixture_file("wxr-1.2.xml", tmp_path, IMAGES_BASE=server.url)
        page = run_import(client, burst_worker, import_env, path)
    # The report.
    assert "<strong>3</strong> posts imported" not in page  # sanity: exact counts below
    assert "<strong>5</strong> posts imported" in page
    assert "<strong>2</strong> comments imported" in page
    assert "<strong>1</strong> images imported" in page
    for reason in [
        "a page: only posts are imported",
        "status trash",
        "spam",
        "a pingback",
        "in the trash",
        "missing.png",
        "answered 404",
    ]:
        assert reason in page, reason

    posts = posts_by_title(data, owner.id)
    assert sorted(posts) == sorted(
        ["Grüße aus Köln ☕", "Zukünftig", "Entwurf ohne Datum", "Privat"]
    )
    first, second = sorted(posts["Grüße aus Köln ☕"], key=lambda p: p.id)
    assert first.status == "published" and first.published_at == GMT_2024_01_02_10
    assert first.slug == "grüße-aus-koeln" and second.slug == "grüße-aus-koeln-2"
    assert first.tags == ["käffee", "reisen-städte"]
    assert redis_client.hget(Keys("blog:").post(first.id), "original_author") == "Zoë Ångström"
    assert "Hallo **Welt**" in first.body and "wp:" not in first.body
    assert (
        "<script" not in first.html
        and "onclick" not in first.html
        and "javascript:" not in first.html
    )
    (future,) = posts["Zukünftig"]
    assert (
        future.status == "scheduled"
        and future.published_at == datetime(2099, 6, 1, 10, tzinfo=UTC).timestamp()
    )
    assert f"[weg]({server.url}/missing.png)" in future.body  # the failed image: a link
    assert posts["Entwurf ohne Datum"][0].status == "draft"
    assert posts["Privat"][0].status == "draft"

    comments = data.comments.for_post(first.id)
    assert [(c.name, c.body) for c in comments] == [
        ("Jürgen", "Schön! Danke ✓"),
        ("Ana", "Olá, ótimo!"),
    ]
    assert comments[0].created_at == datetime(2024, 1, 3, 8, tzinfo=UTC).timestamp()

    # The image: one record for the attachment and the post, cleaned like an upload.
    media = re.search(r"/media/([\w-]+)/original\.jpg", first.body)
    assert media, first.body
    record = data.images.get(media.group(1))
    assert record.status == "ready" and record.owner_id == owner.id
    served = client.get(media.group(0))
    assert served.status_code == 200
    assert not Image.open(io.BytesIO(served.data)).getexif().get_ifd(0x8825)  # no GPS
    assert_consistent(redis_client)

    # A second import of the same file adds nothing and says so.
    with image_server() as server2:
        path = fixture_file("wxr-1.2.xml", tmp_path, IMAGES_BASE=server.url)
        before = (len(data.posts.by_author(owner.id)), redis_client.dbsize())
        page = run_import(client, burst_worker, import_env, path)
        assert server2.hits == []
    assert "<strong>0</strong> posts imported" in page
    assert "5 posts were already here" in page and "2 comments were already here" in page
    assert len(data.posts.by_author(owner.id)) == before[0]
    assert_consistent(redis_client)


@pytest.mark.parametrize(
    "name, title, author",
    [("wxr-1.0.xml", "Ancient post", "admin"), ("wxr-1.1.xml", "Hola", "María José")],
)
def test_older_versions_via_cli(app, runner, auth, data, redis_client, name, title, author):
    auth.create("bob")
    result = runner.invoke(args=["import", "wordpress", str(WXR / name), "--author", "bob"])
    assert result.exit_code == 0, result.output
    assert "Imported 1 posts" in result.output
    (post,) = data.posts.by_author(data.users.by_username("bob").id)
    assert post.title == title
    assert redis_client.hget(Keys("blog:").post(post.id), "original_author") == author
    again = runner.invoke(args=["import", "wordpress", str(WXR / name), "--author", "bob"])
    assert (
        "Imported 0 posts" in again.output
        and "Already here (imported before): 1 posts" in again.output
    )
    assert_consistent(redis_client)


def test_cli_limits(runner, auth, tmp_path):
    auth.create("bob")
    auth.create("carol")
    wxr = str(WXR / "wxr-1.0.xml")
    assert "say which author" in runner.invoke(args=["import", "wordpress", wxr]).output
    assert (
        "no author is called 'zed'"
        in runner.invoke(args=["import", "wordpress", wxr, "--author", "zed"]).output
    )
    long = runner.invoke(args=["import", "wordpress", wxr, "--author", "x" * 101])
    assert "at most 100 characters" in long.output
    missing = runner.invoke(args=["import", "wordpress", str(tmp_path / "nope.xml")])
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_cli_file_larger_than_the_limit(redis_url, redis_client, media_root, tmp_path):
    from tests.helpers import make_app

    app = make_app(redis_url, MEDIA_ROOT=str(media_root), MAX_IMPORT_MB=1)
    app.extensions["blog_data"].users.create("bob", "correct horse battery")
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * (1024 * 1024 + 1))
    result = app.test_cli_runner().invoke(args=["import", "wordpress", str(big)])
    assert result.exit_code != 0 and "larger than 1 MB" in result.output


def test_malformed_file_says_line_and_keeps_what_it_says(runner, auth, data, redis_client):
    auth.create("bob")
    result = runner.invoke(args=["import", "wordpress", str(WXR / "malformed.xml")])
    assert result.exit_code == 1
    assert "line 15" in result.output and "mismatched tag" in result.output
    # The counting pass reads the whole file first: nothing was written, and it says so.
    assert "Imported 0 posts, 0 comments, 0 tags, 0 images." in result.output
    assert data.posts.by_author(data.users.by_username("bob").id) == []
    assert_consistent(redis_client)


@pytest.mark.parametrize(
    "name, message",
    [("billion-laughs.xml", "DTD or entities"), ("not-wxr.xml", "not a WordPress export")],
)
def test_bad_files_via_the_page(client, auth, data, burst_worker, import_env, name, message):
    auth.login()
    page = run_import(client, burst_worker, import_env, WXR / name)
    assert "The import stopped:" in page and message in page
    assert data.posts.by_author(data.users.by_username("alice").id) == []


def test_upload_limits(redis_url, redis_client, media_root):
    from tests.helpers import make_app

    app = make_app(redis_url, MEDIA_ROOT=str(media_root), MAX_IMPORT_MB=1)
    client = app.test_client()
    app.extensions["blog_data"].users.create("alice", "correct horse battery")
    client.post("/login", data={"username": "alice", "password": "correct horse battery"})
    too_big = client.post(
        "/import",
        data={"file": (io.BytesIO(b" " * (1024 * 1024 + 70 * 1024)), "big.xml")},
        content_type="multipart/form-data",
    )
    assert too_big.status_code == 413
    assert "larger than 1 MB" in too_big.get_data(as_text=True)
    just_past = client.post(  # inside the form's allowance for the envelope, past the file's
        "/import",
        data={"file": (io.BytesIO(b" " * (1024 * 1024 + 1)), "big.xml")},
        content_type="multipart/form-data",
    )
    assert just_past.status_code == 413
    assert not list(app.extensions["media_storage"].keys("imports/"))
    # Past the app-wide upload limit (MAX_UPLOAD_MB 20) only on this route: not here.
    wrong = client.post(
        "/import",
        data={"file": (io.BytesIO(b"<rss/>"), "export.txt")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Choose the .xml file" in wrong.get_data(as_text=True)
    none = client.post("/import", data={}, follow_redirects=True)
    assert "Choose the WordPress export file" in none.get_data(as_text=True)


def test_csrf_required(csrf_app, redis_client):
    client = csrf_app.test_client()
    csrf_app.extensions["blog_data"].users.create("alice", "correct horse battery")
    login_with_token(client)
    response = client.post(
        "/import",
        data={"file": (io.BytesIO(b"<rss/>"), "a.xml")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    page = client.get("/import").get_data(as_text=True)
    ok = client.post(
        "/import",
        data={"file": (io.BytesIO(b"<rss/>"), "a.xml"), "csrf_token": csrf_token(page)},
        content_type="multipart/form-data",
    )
    assert ok.status_code == 302


@pytest.mark.parametrize(
    "name, bad, good",
    [
        ("MAX_IMPORT_MB", "0", "50"),
        ("MAX_IMPORT_MB", "2049", "50"),
        ("MAX_IMPORT_MB", "lots", "50"),
        ("IMPORT_IMAGE_TIMEOUT", "0", "5"),
        ("IMPORT_IMAGE_TIMEOUT", "301", "5"),
    ],
)
def test_import_settings_have_limits(monkeypatch, name, bad, good):
    from blog.config import ConfigError, from_environment

    monkeypatch.setenv(name, bad)
    with pytest.raises(ConfigError, match=f"{name} must be"):
        from_environment()
    monkeypatch.setenv(name, good)
    assert from_environment()[name] == int(good)


def test_private_hosts_off_by_default(monkeypatch):
    from blog.config import from_environment

    monkeypatch.delenv("IMPORT_ALLOW_PRIVATE_HOSTS", raising=False)
    assert from_environment()["IMPORT_ALLOW_PRIVATE_HOSTS"] is False


def test_images_from_private_hosts_refused_by_default(
    client, auth, data, burst_worker, worker_env, tmp_path
):
    """Without IMPORT_ALLOW_PRIVATE_HOSTS the worker refuses the local image server: the
    post is imported with a link to the image, and the report says why."""
    auth.login()
    with image_server() as server:
        path = fixture_file("wxr-1.2.xml", tmp_path, IMAGES_BASE=server.url)
        page = run_import(client, burst_worker, worker_env, path)
        assert server.hits == []
    assert "private, loopback or link-local" in page
    assert "<strong>5</strong> posts imported" in page
    same_title = posts_by_title(data, data.users.by_username("alice").id)["Grüße aus Köln ☕"]
    first = min(same_title, key=lambda p: p.id)
    assert f"[Dom bei Nacht]({server.url}/photo.jpg)" in first.body


def test_import_through_s3_media_storage(
    redis_url, redis_client, s3_settings, worker_env, burst_worker, tmp_path
):
    """Production's storage: the upload streamed into S3 (moto's server over HTTP), read
    back by the worker as a stream, the image stored there and cleaned."""
    from tests.helpers import S3_CREDENTIALS, make_app

    app = make_app(redis_url, **s3_settings)
    client = app.test_client()
    data = app.extensions["blog_data"]
    data.users.create("alice", "correct horse battery")
    client.post("/login", data={"username": "alice", "password": "correct horse battery"})
    env = {**worker_env, **s3_settings, **S3_CREDENTIALS, "IMPORT_ALLOW_PRIVATE_HOSTS": "1"}
    with image_server() as server:
        path = fixture_file("wxr-1.2.xml", tmp_path, IMAGES_BASE=server.url)
        page = run_import(client, burst_worker, env, path)
    assert "<strong>5</strong> posts imported" in page
    assert "<strong>1</strong> images imported" in page
    storage = app.extensions["media_storage"]
    assert not list(storage.keys("imports/"))  # the uploaded file is gone once imported
    image_ids = [k.split("/")[1] for k in storage.keys("images/")]
    assert image_ids and data.images.get(image_ids[0]).status == "ready"
    assert_consistent(redis_client)


def test_one_import_at_a_time(client, auth, app, media_root):
    auth.login()
    assert upload(client, WXR / "wxr-1.0.xml").status_code == 302
    second = upload(client, WXR / "wxr-1.1.xml")
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "An import is already running" in page
    assert "<h2>wxr-1.0.xml</h2>" in page and 'class="job-progress"' in page
    storage = app.extensions["media_storage"]
    assert len(list(storage.keys("imports/"))) == 1  # the refused file is not kept


def test_imported_posts_are_searchable(client, auth, burst_worker, import_env):
    """The import job's post writes enqueue the search indexing job, as the editor's do."""
    auth.login()
    assert upload(client, WXR / "wxr-1.1.xml").status_code == 302
    burst_worker("documents", "search", env=import_env, timeout=120)
    page = client.get("/search?q=mundo").get_data(as_text=True)
    assert 'href="/posts/hola"' in page


def test_backup_keeps_what_was_imported(app, runner, auth, data, redis_client, tmp_path):
    """`imported` is an entity: after a backup and a restore, importing the same file
    again still adds nothing; `import:<id>` (the latest job and report) is not kept."""
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    auth.create("bob")
    wxr = str(WXR / "wxr-1.0.xml")
    assert runner.invoke(args=["import", "wordpress", wxr]).exit_code == 0
    keys = Keys("blog:")
    imported = redis_client.hgetall(keys.imported)
    assert len(imported) == 2  # the post and its comment
    redis_client.hset(keys.import_run(1), mapping={"job_id": "x", "claimed_at": 1})
    assert runner.invoke(args=["backup", "run"]).exit_code == 0
    key = data.backups.last_good()["key"]
    redis_client.flushall()
    assert runner.invoke(args=["backup", "restore", key]).exit_code == 0
    assert redis_client.hgetall(keys.imported) == imported
    assert not redis_client.exists(keys.import_run(1))
    again = runner.invoke(args=["import", "wordpress", wxr])
    assert "Imported 0 posts, 0 comments" in again.output
    assert_consistent(redis_client)


def test_image_of_a_killed_try_is_not_duplicated(data, app, tmp_path):
    """A try killed after the image record was made but before its bytes were stored:
    the next try fetches it again into the same record; one killed after the bytes were
    stored only hands it to the cleaning job again. Never a second image."""
    from blog.imports.fetch import Fetcher
    from blog.imports.service import Importer, Report

    owner = data.users.create("bob", "correct horse battery")
    storage = app.extensions["media_storage"]
    cleaned: list[str] = []
    importer = Importer(data, storage, owner, Fetcher(5 * 1024 * 1024, 5, True), cleaned.append)
    with image_server() as server:
        url = f"{server.url}/photo.jpg"
        first = importer.image(url, Report())
        record = data.images.get(first.split("/")[2])
        storage.delete(record.incoming_key)  # as if killed between create and put
        again = Report()
        assert importer.image(url, again) == first and again.images == 1
        assert storage.get(record.incoming_key)  # stored this time
        third = Report()
        assert importer.image(url, third) == first and third.already["images"] == 1
        assert len(server.hits) == 2  # the third try did not fetch
    assert cleaned == [record.id] * 3
    assert len(data.redis.zrange(data.keys.user_images(owner.id), 0, -1)) == 1
