"""What authors write (Markdown with raw HTML) and visitors write (plain text) can never
carry script into a page. Outputs are parsed, not grepped, wherever that is possible."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from blog.rendering import (
    ALLOWED_TAGS,
    ImageSizes,
    excerpt,
    render_comment,
    render_markdown,
)

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<img src=x onerror=alert(1)>",
    "<img src=x OnErRoR=alert(1)>",
    '<img src="x" onerror="alert(1)"/>',
    "<svg onload=alert(1)><circle r=5 /></svg>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><script>alert(1)</script></mtext></math>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="  javascript:alert(1)">click</a>',
    '<a href="javas&#99;ript:alert(1)">click</a>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    '<a href="&#x6A;avascript&colon;alert(1)">x</a>',
    '<a href="java&#9;script:alert(1)">tab</a>',
    '<a href="java&#10;script:alert(1)">newline</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<img src="javascript:alert(1)">',
    '<img src="x.png" srcset="javascript:alert(1) 1x, data:image/png;base64,AAAA 2x">',
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<p style="background:url(javascript:alert(1))">styled</p>',
    '<div onclick="alert(1)">click</div>',
    '<a href="https://ok.example" onmouseover="alert(1)">hover</a>',
    "<body onload=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button formaction="javascript:alert(1)">x</button></form>',
    "<input onfocus=alert(1) autofocus>",
    "<details open ontoggle=alert(1)>",
    '<video><source onerror="alert(1)"></video>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel="stylesheet" href="javascript:alert(1)">',
    "<a href='javascript:alert(1)'>single quotes</a>",
    "<a href=javascript:alert(1)>no quotes</a>",
    "<img src=`x` onerror=alert(1)>",
    "<<img src=x onerror=alert(1)//<",
    '<img """><script>alert(1)</script>">',
    "<!--<img src=x onerror=alert(1)>-->",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<a href="#" xlink:href="javascript:alert(1)">x</a>',
    "`<script>alert(1)</script>` and\n\n    <script>alert(2)</script>",
    '<table background="javascript:alert(1)"><tr><td>x</td></tr></table>',
    '<code class="x" onclick="alert(1)">code</code>',
]

URL_ATTRIBUTES = {
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "xlink:href",
    "background",
    "poster",
    "data",
    "cite",
    "longdesc",
    "lowsrc",
    "dynsrc",
    "ping",
    "content",
}
SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):", re.IGNORECASE)


class Collect(HTMLParser):
    """Every element with its attributes, entities decoded as a browser would."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, attrs))

    handle_startendtag = handle_starttag


def parse(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Collect()
    parser.feed(html)
    parser.close()
    return parser.elements


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see: it drops tabs and newlines and leading spaces
    and control characters before parsing."""
    cleaned = re.sub(r"[\t\n\r]", "", value).lstrip("".join(chr(c) for c in range(33)))
    match = _SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


def assert_harmless(html: str, allowed_tags=ALLOWED_TAGS) -> None:
    assert "<script" not in html.lower()
    for tag, attrs in parse(html):
        assert tag in allowed_tags, f"<{tag}> in {html!r}"
        for name, value in attrs:
            assert not name.startswith("on"), f"{name}= on <{tag}> in {html!r}"
            assert name not in {"style", "srcdoc", "formaction", "xlink:href"}, html
            if name in URL_ATTRIBUTES and value:
                candidates = value.split(",") if name == "srcset" else [value]
                for candidate in candidates:
                    scheme = url_scheme(
                        candidate.strip().split(" ")[0] if candidate.strip() else ""
                    )
                    assert scheme in (None, *SAFE_SCHEMES), f"{name}={value!r} in {html!r}"


def test_there_are_enough_payloads():
    assert len(XSS_PAYLOADS) >= 20
    assert len(set(XSS_PAYLOADS)) == len(XSS_PAYLOADS)


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_markdown_output_is_harmless(payload):
    assert_harmless(render_markdown(payload))


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payload_inside_markdown_structure_is_harmless(payload):
    text = f"# Title\n\n> {payload}\n\n- item {payload}\n\n| a |\n|---|\n| {payload} |\n"
    assert_harmless(render_markdown(text))


def test_no_event_handler_attribute_survives_anywhere():
    html = render_markdown("\n\n".join(XSS_PAYLOADS))
    assert_harmless(html)
    for tag in re.findall(r"<[a-zA-Z][^>]*>", html):
        assert not re.search(r"\son\w+\s*=", tag), tag


def test_escaped_text_keeps_the_words_but_not_the_markup():
    html = render_markdown("`<script>alert(1)</script>`")
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in html


@pytest.mark.parametrize(
    "text, expected",
    [
        ("**bold** and *em*", "<strong>bold</strong> and <em>em</em>"),
        (
            "[site](https://example.com/a?b=1&c=2)",
            '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">site</a>',
        ),
        ("[mail](mailto:me@example.com)", 'href="mailto:me@example.com"'),
        ("[rel](/posts/other)", 'href="/posts/other"'),
        (
            "![alt text](https://example.com/i.png)",
            '<img src="https://example.com/i.png" alt="alt text">',
        ),
        ("```python\nx = 1\n```", '<code class="language-python">x = 1'),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "<td>1</td>"),
        ('<abbr title="HyperText">HTML</abbr>', '<abbr title="HyperText">HTML</abbr>'),
        ("H<sub>2</sub>O", "H<sub>2</sub>O"),
    ],
)
def test_safe_markdown_is_kept(text, expected):
    html = render_markdown(text)
    assert expected in html
    assert_harmless(html)


def test_links_get_rel_noopener():
    html = render_markdown('<a href="https://example.com" rel="opener" target="_blank">x</a>')
    [(tag, attrs)] = parse(html)[-1:]
    assert tag == "a"
    assert dict(attrs)["rel"] == "noopener noreferrer"
    assert "target" not in dict(attrs)


def test_uploaded_images_get_their_srcset_after_sanitizing():
    sizes = {"abcdef123456": ImageSizes(1600, 1200, [("thumb", 320), ("web", 1280)])}
    html = render_markdown("![cat](/media/abcdef123456/original.jpg)", sizes)
    [(tag, attrs)] = [e for e in parse(html) if e[0] == "img"]
    attrs = dict(attrs)
    assert attrs["srcset"] == (
        "/media/abcdef123456/thumb.jpg 320w, /media/abcdef123456/web.jpg 1280w"
    )
    assert (attrs["width"], attrs["height"]) == ("1600", "1200")
    # an author cannot smuggle their own srcset in
    html = render_markdown('<img src="/x.png" srcset="javascript:alert(1) 2x">', sizes)
    assert "srcset" not in html


def test_excerpt_is_plain_text():
    html = render_markdown("# Big\n\nSome **bold** &amp; <em>text</em> " + "word " * 100)
    text = excerpt(html)
    assert "<" not in text
    assert text.startswith("Big Some bold & text word")
    assert len(text) <= 281
    assert text.endswith("…")


@pytest.mark.parametrize(
    "markdown, expected",
    [
        ("We sailed past the *fishing boats*.", "We sailed past the fishing boats."),
        ("A [link](https://x.example), then **bold**!", "A link, then bold!"),
        ("(*quoted*) and `code`;", "(quoted) and code;"),
        ("# Title\n\nFirst paragraph.\n\nSecond.", "Title First paragraph. Second."),
        ("- one\n- two\n\n> quote", "one two quote"),
        ("| a | b |\n|---|---|\n| c | d |", "a b c d"),
        ("line one  \nline two", "line one line two"),
    ],
)
def test_excerpt_keeps_spaces_and_punctuation_as_written(markdown, expected):
    assert excerpt(render_markdown(markdown)) == expected


COMMENT_PAYLOADS = [
    "<script>alert(1)</script>",
    "<b>bold</b>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    'http://x.example/"onmouseover="alert(1)',
    "https://x.example/'><script>alert(1)</script>",
    "https://x.example/<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "data:text/html,<script>alert(1)</script>",
    'https://ok.example/path?q=<b>&r="x"',
]


@pytest.mark.parametrize("payload", COMMENT_PAYLOADS)
def test_comment_output_is_harmless(payload):
    html = str(render_comment(payload))
    assert_harmless(html, allowed_tags={"a", "br"})
    for tag, attrs in parse(html):
        if tag == "a":
            attrs = dict(attrs)
            assert set(attrs) == {"href", "rel"}
            assert url_scheme(attrs["href"]) in {"http", "https"}
            assert {"nofollow", "ugc"} <= set(attrs["rel"].split())


def test_comment_text_shows_literally():
    html = str(render_comment("<b>hi</b> & bye"))
    assert html == "&lt;b&gt;hi&lt;/b&gt; &amp; bye"
    assert not parse(html)


def test_comment_links_and_line_breaks():
    html = str(render_comment("See https://example.com/a_b?x=1&y=2.\nAnd (http://two.example)!"))
    links = [dict(attrs) for tag, attrs in parse(html) if tag == "a"]
    assert [a["href"] for a in links] == ["https://example.com/a_b?x=1&y=2", "http://two.example"]
    assert all(a["rel"] == "nofollow ugc noopener" for a in links)
    assert "<br>\n" in html
    assert html.endswith(")!")
