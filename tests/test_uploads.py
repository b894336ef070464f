"""Image uploads end to end: HTTP upload, a real `rq worker` process, serving rules."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from blog.storage import LocalStorage, MediaNotFound, S3Storage
from tests.helpers import FIXTURES, make_app

GPS_JPEG = FIXTURES / "exif-samples" / "gps" / "DSCN0010.jpg"


def upload(client, data: bytes, name: str = "photo.jpg"):
    return client.post(
        "/uploads", data={"image": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def png_bytes(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def test_upload_answers_202_and_image_is_404_until_clean(client, auth, burst_worker, media_root):
    auth.login()
    started = time.perf_counter()
    response = upload(client, GPS_JPEG.read_bytes(), "DSCN0010.jpg")
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 202
    info = response.get_json()
    assert info["status"] == "processing"
    assert set(info) >= {"id", "status", "status_url", "url"}
    assert "DSCN0010" not in info["url"]  # random id, never the user's file name
    assert client.get(info["url"]).status_code == 404
    assert client.get(info["status_url"]).get_json()["status"] == "processing"
    assert (media_root / "incoming" / info["id"]).exists()

    burst_worker("images")

    status = client.get(info["status_url"]).get_json()
    assert status["status"] == "ready", status
    assert "GPS position" in status["removed"]
    assert {v["name"] for v in status["variants"]} == {"original", "web", "thumb"}
    served = client.get(info["url"])
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"]
    assert not Image.open(io.BytesIO(served.data)).getexif().get_ifd(0x8825)
    assert not (media_root / "incoming" / info["id"]).exists()  # raw bytes deleted
    for variant in status["variants"]:
        body = client.get(variant["url"]).data
        assert Image.open(io.BytesIO(body)).size == (variant["width"], variant["height"])


def test_upload_limits_size_with_413(redis_url, redis_client, media_root, auth):
    app = make_app(redis_url, MEDIA_ROOT=str(media_root), MAX_UPLOAD_MB=1)
    client = app.test_client()
    auth.__init__(app, client)
    auth.login()
    response = upload(client, b"\xff\xd8\xff" + b"\0" * (1024 * 1024 + 10))
    assert response.status_code == 413
    assert "1 MB" in response.get_json()["error"]


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.7\n1 0 obj\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'></svg>",
        b"%!PS-Adobe-3.0 EPSF-3.0\n",
        b"just some text, named .jpg",
    ],
)
def test_upload_refuses_non_images_with_415(client, auth, content):
    auth.login()
    response = upload(client, content, "innocent.jpg")
    assert response.status_code == 415
    assert "JPEG" in response.get_json()["error"]


def test_upload_needs_a_file(client, auth):
    auth.login()
    response = client.post("/uploads", data={}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose an image" in response.get_json()["error"]


def test_upload_needs_login(client):
    response = upload(client, png_bytes())
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_other_author_cannot_see_processing_status(client, auth):
    auth.login("alice")
    info = upload(client, png_bytes(), "a.png").get_json()
    auth.logout()
    auth.login("bob")
    assert client.get(info["status_url"]).status_code == 404


def test_upload_needs_csrf_token(csrf_app, auth):
    client = csrf_app.test_client()
    auth.__init__(csrf_app, client)
    auth.create()
    page = client.get("/login").get_data(as_text=True)
    from tests.helpers import PASSWORD, csrf_token

    token = csrf_token(page)
    client.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert upload(client, png_bytes()).status_code == 400
    editor = client.get("/posts/new").get_data(as_text=True)
    token = editor.split('name="csrf-token" content="')[1].split('"')[0]
    response = client.post(
        "/uploads",
        data={"image": (io.BytesIO(png_bytes()), "a.png")},
        headers={"X-CSRFToken": token},
        content_type="multipart/form-data",
    )
    assert response.status_code == 202


def test_corrupt_image_fails_clearly_and_worker_goes_on(client, auth, burst_worker):
    auth.login()
    broken = upload(client, GPS_JPEG.read_bytes()[:2000], "broken.jpg").get_json()
    good = upload(client, png_bytes(), "good.png").get_json()
    burst_worker("images")
    failed = client.get(broken["status_url"]).get_json()
    assert failed["status"] == "failed"
    assert failed["error"]  # a human message
    assert client.get(broken["url"]).status_code == 404
    assert client.get(good["status_url"]).get_json()["status"] == "ready"


def test_post_uses_variants_in_srcset(client, auth, burst_worker):
    auth.login()
    info = upload(client, GPS_JPEG.read_bytes()).get_json()
    burst_worker("images")
    body = f"A photo:\n\n![A street]({info['url']})"
    client.post("/posts/new", data={"title": "Photo", "body": body, "status": "published"})
    page = client.get("/posts/photo").get_data(as_text=True)
    base = info["url"].rsplit("/", 1)[0]
    assert f'srcset="{base}/thumb.jpg 400w, ' in page
    assert 'width="640" height="480"' in page


def test_s3_backend_web_and_worker_share_no_disk(
    redis_url, redis_client, tmp_path, auth, s3_settings, burst_worker, worker_env
):
    app = make_app(redis_url, MEDIA_ROOT=str(tmp_path / "web-disk"), **s3_settings)
    client = app.test_client()
    auth.__init__(app, client)
    auth.login()
    info = upload(client, GPS_JPEG.read_bytes()).get_json()
    env = {**worker_env, **s3_settings, "MEDIA_ROOT": str(tmp_path / "worker-disk")}
    env.update({k: v for k, v in __import__("os").environ.items() if k.startswith("AWS_")})
    burst_worker("images", env=env)
    assert client.get(info["status_url"]).get_json()["status"] == "ready"
    served = client.get(info["url"])
    assert served.status_code == 200 and served.data[:2] == b"\xff\xd8"
    storage = app.extensions["media_storage"]
    keys = set(storage.keys())
    assert f"images/{info['id']}/original.jpg" in keys
    assert not any(k.startswith("incoming/") for k in keys)
    assert not (tmp_path / "web-disk").exists() and not (tmp_path / "worker-disk").exists()


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    settings = request.getfixturevalue("s3_settings")
    return S3Storage(settings["S3_BUCKET"], "pre/fix", settings["S3_ENDPOINT_URL"])


def test_storage_contract(storage):
    storage.put("images/x/original.jpg", b"abc", "image/jpeg")
    assert storage.get("images/x/original.jpg") == b"abc"
    assert storage.size("images/x/original.jpg") == 3
    assert list(storage.keys("images/")) == ["images/x/original.jpg"]
    with storage.open("images/x/original.jpg") as f:
        assert f.read() == b"abc"
    storage.delete("images/x/original.jpg")
    with pytest.raises(MediaNotFound):
        storage.get("images/x/original.jpg")
    with pytest.raises(MediaNotFound):
        storage.size("images/x/original.jpg")
    storage.delete("images/x/original.jpg")  # deleting twice is fine


@pytest.mark.parametrize("key", ["", "../etc/passwd", "/abs", "a//b", "a/./b"])
def test_storage_rejects_unsafe_keys(tmp_path, key):
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).put(key, b"x", "text/plain")
