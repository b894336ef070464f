"""Serving media and building srcset safely (issue 9, "Uploads and images")."""

from __future__ import annotations

import logging

from blog.data import ImageVariant
from blog.rendering import ImageSizes, render_markdown

IMAGE_ID = "abcdefgh12"
SIZES = {IMAGE_ID: ImageSizes(640, 480, [("thumb", 400), ("web", 640)])}


def ready_image(app, data, mime_type: str = "image/jpeg") -> str:
    """A ready image record and its files, as the cleaning job leaves them; the stored
    MIME type is given, as a forged backup could set it."""
    owner = data.users.create("alice", "correct horse battery")
    record = data.images.create(owner.id, "JPEG", "jpg", mime_type, 3, "photo.jpg")
    storage = app.extensions["media_storage"]
    stored = []
    for name in ("original", "web"):
        storage.put(record.storage_key(name), b"\xff\xd8\xff", "image/jpeg")
        stored.append(ImageVariant(name, 640, 480, 3))
    data.images.mark_ready(record.id, 640, 480, [], stored)
    return record.id


def test_srcset_never_copies_author_text_before_the_media_path():
    src = f"https://evil.example/?, data:image/svg+xml;base64,PHN2Zz4= 9999w, /media/{IMAGE_ID}/"
    html = render_markdown(f'<img src="{src}original.jpg" alt="x">', SIZES)
    assert "srcset" not in html  # not a media URL: left as the author wrote it
    assert "data:image/svg" not in html.split('src="', 1)[1].split('"', 1)[1]


def test_srcset_still_added_for_site_and_absolute_media_urls():
    for base in (f"/media/{IMAGE_ID}/", f"https://blog.example:8443/media/{IMAGE_ID}/"):
        html = render_markdown(f"![A street]({base}original.jpg)", SIZES)
        assert f'srcset="{base}thumb.jpg 400w, {base}web.jpg 640w"' in html


def test_missing_media_file_answers_404_and_is_logged(app, client, data, caplog):
    image_id = ready_image(app, data)
    app.extensions["media_storage"].delete(f"images/{image_id}/web.jpg")
    assert client.get(f"/media/{image_id}/original.jpg").status_code == 200
    with caplog.at_level(logging.WARNING, logger="blog.uploads.routes"):
        response = client.get(f"/media/{image_id}/web.jpg")
    assert response.status_code == 404
    assert any(image_id in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)


def test_media_content_type_comes_from_the_extension_not_the_record(app, client, data):
    image_id = ready_image(app, data, mime_type="text/html")
    response = client.get(f"/media/{image_id}/original.jpg")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
