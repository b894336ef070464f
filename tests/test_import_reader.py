"""The WXR reader and the HTML-to-Markdown conversion: pure, on the fixture files
(tests/fixtures/wordpress: WXR 1.0, 1.1 and 1.2, CDATA edge cases, UTF-8 everywhere,
block markup and shortcodes, malformed and hostile files)."""

from __future__ import annotations

import io
import resource

import pytest

from blog.rendering import render_markdown
from processing.wordpress import WxrAuthor, WxrError, WxrItem, read_wxr, to_markdown
from processing.wordpress.content import comment_text
from tests.import_helpers import WXR, fixture_file, image_server


def items(name: str) -> list[WxrItem]:
    with (WXR / name).open("rb") as f:
        return [i for i in read_wxr(f) if isinstance(i, WxrItem)]


def test_all_three_versions_read():
    (old,) = items("wxr-1.0.xml")
    assert (old.title, old.creator, old.name, old.status) == (
        "Ancient post",
        "admin",
        "ancient-post",
        "publish",
    )
    assert old.tags == ["Misc", "history"]
    assert old.date == 1209974400.0  # post_date_gmt 2008-05-05 08:00:00 UTC
    assert [c.author for c in old.comments] == ["Mr WordPress"]
    with (WXR / "wxr-1.1.xml").open("rb") as f:
        found = list(read_wxr(f))
    assert found[0] == WxrAuthor("maria", "María José")
    assert found[1].content == "<p>¡Hola, <em>mundo</em>!</p>"
    assert len(items("wxr-1.2.xml")) == 8


def test_cdata_and_utf8_in_every_field():
    first = items("wxr-1.2.xml")[0]
    assert first.title == "Grüße aus Köln ☕"
    assert "&amp; ]]> im Text" in first.content  # a CDATA section split around "]]>"
    assert first.tags == ["Reisen & Städte", "Käffee"]  # "Uncategorized" left out
    assert first.name == "gr%c3%bc%c3%9fe-aus-koeln"
    comments = {c.id: c for c in first.comments}
    assert comments["100"].content == "Schön! <b>Danke</b> ✓"
    assert comments["103"].date is not None  # GMT date zero: post_date used


def test_zero_gmt_date_falls_back_to_local_date():
    draft = items("wxr-1.2.xml")[2]
    assert draft.date == 1706774400.0  # 2024-02-01 08:00:00 read as UTC


def test_block_markup_shortcodes_and_caption_convert_to_markdown():
    first = items("wxr-1.2.xml")[0]
    url = "IMAGES_BASE/photo.jpg"
    text = to_markdown(first.content, {url: "/media/abc123def456/original.jpg"})
    assert "wp:" not in text and "<!--" not in text
    assert "![Dom bei Nacht](/media/abc123def456/original.jpg)" in text
    assert "*Der Dom*" in text
    assert "[gallery" not in text and "[caption" not in text and "[not-a-shortcode]" in text
    assert "- eins\n- zwei" in text
    assert "Hallo **Welt**" in text
    assert 'alert("xss")' not in text and "onclick" not in text  # script and handler gone
    html = render_markdown(text)  # what the blog shows: nothing unsafe survives
    assert "<script" not in html and "onclick" not in html and "javascript:" not in html


def test_failed_image_leaves_a_link_to_the_original():
    text = to_markdown(
        '<p><img src="http://x.example/a.png" alt="A"></p>', {"http://x.example/a.png": None}
    )
    assert text.strip() == "[A](http://x.example/a.png)"


def test_classic_editor_paragraphs():
    text = to_markdown("One\ntwo\n\nThree")
    assert text == "One  \ntwo\n\nThree\n"


def test_comment_text_is_plain():
    assert comment_text("Schön! <b>Danke</b> ✓") == "Schön! Danke ✓"
    assert comment_text("One\ntwo\n\nThree <script>x</script>") == "One\ntwo\n\nThree"


def test_malformed_xml_says_the_line():
    with pytest.raises(WxrError, match=r"mismatched tag\) at line 15, column"):
        items("malformed.xml")


def test_not_wxr_says_so():
    with pytest.raises(WxrError, match="not a WordPress export"):
        items("not-wxr.xml")
    with pytest.raises(WxrError, match="not an RSS document"):
        list(read_wxr(io.BytesIO(b"<html><body>hi</body></html>")))


def test_billion_laughs_refused_without_memory_growth():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(WxrError, match="DTD or entities"):
        items("billion-laughs.xml")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KB


@pytest.mark.parametrize("name", ["external-entity.xml", "dtd-fetch.xml"])
def test_external_entities_and_dtds_refused_without_network(name, tmp_path):
    with image_server() as server:
        path = fixture_file(name, tmp_path, EXTERNAL_URL=f"{server.url}/evil.dtd")
        with pytest.raises(WxrError, match="DTD or entities"), path.open("rb") as f:
            list(read_wxr(f))
        assert server.hits == []  # nothing was fetched
