"""Pure message building (processing/mail.py): addresses, tokens, links, messages."""

from __future__ import annotations

import itsdangerous.timed
import pytest

from processing.mail import (
    CommentSummary,
    Envelope,
    Links,
    PostSummary,
    Tokens,
    announcement_message,
    comments_message,
    confirmation_message,
    normalise_address,
    reset_message,
)

ENV = Envelope("A Blog <news@blog.example>", "A <Blog> & Co", Links("https://blog.example"))
POST = PostSummary("Tom & <Jerry>", "Cats <script>alert(1)</script> & mice", "tom-jerry", "alice")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("first.last+tag@sub.example.org", "first.last+tag@sub.example.org"),
        ("x@bücher.example", "x@xn--bcher-kva.example"),
        ("no-at-sign", None),
        ("two@@example.com", None),
        ("a@b@example.com", None),
        ('"quoted"@example.com', None),
        ("spa ce@example.com", None),
        ("colon:x@example.com", None),
        ("dot.@example.com", None),
        ("x@no-tld", None),
        ("x@" + "a" * 250 + ".com", None),
        ("", None),
    ],
)
def test_normalise_address(raw, expected):
    assert normalise_address(raw) == expected


def test_tokens_are_per_purpose_and_signed():
    tokens = Tokens("k" * 32)
    confirm = tokens.confirm("ada@example.com")
    assert tokens.confirmed_address(confirm) == "ada@example.com"
    assert tokens.unsubscribe_address(confirm) is None  # a confirm token cannot unsubscribe
    assert tokens.unsubscribe_address(tokens.unsubscribe("ada@example.com")) == "ada@example.com"
    assert Tokens("other" * 8).confirmed_address(confirm) is None
    assert tokens.confirmed_address(confirm[:-2] + "xx") is None
    assert tokens.confirmed_address("x" * 600) is None


def test_confirm_token_expires_after_48_hours(monkeypatch):
    tokens = Tokens("k" * 32)
    token = tokens.confirm("ada@example.com")
    now = itsdangerous.timed.time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + 47 * 3600)
    assert tokens.confirmed_address(token) == "ada@example.com"
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + 49 * 3600)
    assert tokens.confirmed_address(token) is None


def test_reset_token_is_single_use_and_lasts_an_hour(monkeypatch):
    tokens = Tokens("k" * 32)
    token = tokens.reset(7, "scrypt:old-hash")
    assert tokens.reset_user(token, lambda uid: "scrypt:old-hash") == 7
    assert tokens.reset_user(token, lambda uid: "scrypt:new-hash") is None  # used
    assert tokens.reset_user(token, lambda uid: None) is None  # author gone
    now = itsdangerous.timed.time.time()
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: now + 3601)
    assert tokens.reset_user(token, lambda uid: "scrypt:old-hash") is None


def test_links_match_the_app_routes(app):
    links = Links("https://blog.example")
    with app.test_request_context(base_url="https://blog.example"):
        from flask import url_for

        assert links.post("s") == url_for("posts.show", slug="s", _external=True)
        assert links.confirm("t") == url_for("newsletter.confirm", token="t", _external=True)
        assert links.unsubscribe("t") == url_for(
            "newsletter.unsubscribe", token="t", _external=True
        )
        assert links.reset("t") == url_for("auth.reset", token="t", _external=True)
        assert links.moderation() == url_for("comments.moderation", _external=True)


def parts(message):
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return text, html


def test_announcement_message():
    msg = announcement_message(ENV, "ada@example.com", POST, "TOKEN")
    text, html = parts(msg)
    assert msg["To"] == "ada@example.com"
    assert msg["From"] == "A Blog <news@blog.example>"
    assert msg["Subject"] == "Tom & <Jerry> · A <Blog> & Co"
    assert msg["Message-ID"].endswith("@blog.example>")
    assert msg["Date"]
    assert msg["List-Id"] == "A Blog & Co <newsletter.blog.example>"
    assert msg["List-Unsubscribe"] == "<https://blog.example/unsubscribe/TOKEN>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://blog.example/posts/tom-jerry" in text
    assert "https://blog.example/unsubscribe/TOKEN" in text
    assert "Cats <script>alert(1)</script> & mice" in text  # plain text stays as written
    assert "<script>" not in html and "&lt;script&gt;" in html  # HTML is escaped
    assert "Tom &amp; &lt;Jerry&gt;" in html
    assert 'href="https://blog.example/unsubscribe/TOKEN"' in html


def test_subject_never_carries_a_line_break():
    post = PostSummary("Line\r\nBcc: victim@example.com", "x", "s", "a")
    msg = announcement_message(ENV, "ada@example.com", post, "T")
    assert "\n" not in msg["Subject"] and "Bcc" not in msg


def test_confirmation_and_reset_messages_carry_their_links():
    text, html = parts(confirmation_message(ENV, "ada@example.com", "CT"))
    assert "https://blog.example/subscribe/confirm/CT" in text and "48 hours" in text
    msg = reset_message(ENV, "alice@example.com", "alice", "RT")
    text, html = parts(msg)
    assert "https://blog.example/login/reset/RT" in text and "one hour" in text
    assert "List-Unsubscribe" not in msg  # not reader mail


def test_comment_notice_lists_comments_and_marks_waiting_ones():
    comments = [CommentSummary(f"<b>{i}</b>", "body " * 200, i == 1) for i in range(25)]
    msg = comments_message(ENV, "alice@example.com", POST, comments)
    text, html = parts(msg)
    assert msg["Subject"] == "25 new comments on “Tom & <Jerry>”"
    assert "waiting for your approval" in text
    assert "https://blog.example/moderation" in text
    assert "... and 5 more." in text
    assert "&lt;b&gt;0&lt;/b&gt;" in html and "<b>0</b>" not in html
