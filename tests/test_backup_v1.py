"""An archive of format_version 1 restores: the fixture was written by the format-1
writer (processing/archive before per-member compression, everything deflated at level
6) from a small blog made by `make_varied_data`: authors, posts, tags, comments,
images. Restoring it through `flask backup restore`, then exporting again, gives back
exactly the archive's records and files."""

from __future__ import annotations

import hashlib
import io
import shutil

from blog.data.records import Exporter
from processing.archive import read_archive
from tests.backup_helpers import check_invariants
from tests.helpers import FIXTURES, listed_titles

V1_NAME = "2025/01/31/blog-20250131T020000Z.tar.gz"
V1_ARCHIVE = FIXTURES / "backup-v1" / "blog-20250131T020000Z.tar.gz"


def archive_contents() -> tuple[dict, list[dict], dict[str, bytes]]:
    records: list[dict] = []
    media: dict[str, bytes] = {}
    manifest = read_archive(
        io.BytesIO(V1_ARCHIVE.read_bytes()),
        on_record=records.append,
        on_media=lambda name, stream: media.__setitem__(name, stream.read()),
    )
    return manifest, records, media


def test_a_version_1_archive_restores_exactly(app, data, redis_client, tmp_path):
    manifest, records, media = archive_contents()
    assert manifest["format_version"] == 1 and records and media
    assert all("compression" not in entry for entry in manifest["members"].values())
    app.config["BACKUP_ROOT"] = str(tmp_path / "backups")
    (tmp_path / "backups" / V1_NAME).parent.mkdir(parents=True)
    shutil.copy(V1_ARCHIVE, tmp_path / "backups" / V1_NAME)
    # What the completed backup run wrote beside it (local targets refuse archives without).
    digest = hashlib.sha256(V1_ARCHIVE.read_bytes()).hexdigest()
    sidecar = tmp_path / "backups" / (V1_NAME + ".sha256")
    sidecar.write_text(f"{digest}  {V1_ARCHIVE.name}\n")

    result = app.test_cli_runner().invoke(args=["backup", "restore", V1_NAME])
    assert result.exit_code == 0, result.output

    storage = app.extensions["media_storage"]
    exporter = Exporter(data.redis, data.keys, lambda key: len(storage.open(key).read()))
    again = list(exporter.records())
    # Time to live goes on running from the restore: compare it as "has one, not longer".
    restored = {r["key"]: {**r, "ttl_ms": r["ttl_ms"] is not None} for r in again}
    # A version-1 archive predates `images:unused`: the restore marks the images no post
    # shows as unused (so the cleanup job can reclaim them), and only those.
    unused = {member for member, _ in restored.pop("images:unused")["value"]}
    bodies = " ".join(r["value"].get("body", "") for r in records if r["type"] == "hash")
    assert unused and not any(image_id in bodies for image_id in unused)
    assert restored == {r["key"]: {**r, "ttl_ms": r["ttl_ms"] is not None} for r in records}
    ttls = {r["key"]: r["ttl_ms"] for r in again if r["ttl_ms"] is not None}
    assert all(ttls[r["key"]] <= r["ttl_ms"] for r in records if r["ttl_ms"] is not None)
    for name, body in media.items():
        with storage.open(name) as restored:
            assert restored.read() == body
    assert check_invariants(redis_client, "blog:") is not None
    home = app.test_client().get("/").get_data(as_text=True)
    published = [r for r in records if r["key"].count(":") == 1 and r["key"].startswith("post:")]
    assert any(r["value"]["title"] in listed_titles(home) for r in published)
