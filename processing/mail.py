"""Mail messages as pure functions: addresses, signed tokens, links and the messages.

No Flask, no Redis, no network: jobs call these and hand the result to blog/mailer.py.
Every message is `multipart/alternative` (plain text first, then HTML with everything
escaped) with `Message-ID` and `Date`; reader mail adds `List-Id` and the one-click
unsubscribe headers of RFC 8058.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from html import escape
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer

MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit
# Plain dot-atoms only: no quotes, spaces, brackets or colons, so an address is also a
# safe hash field, CSV cell and URL part. Real readers' addresses all look like this.
_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$|^localhost$")

CONFIRM_MAX_AGE = 48 * 3600
RESET_MAX_AGE = 3600


def normalise_address(raw: str) -> str | None:
    """ "  Ada@Example.COM " -> "ada@example.com"; None when it is not a plain address.

    The whole address is lower-cased: mailbox providers treat the local part case-
    insensitively in practice, and one reader must be one subscriber."""
    address = (raw or "").strip().lower()
    if len(address) > MAX_ADDRESS_LENGTH or address.count("@") != 1:
        return None
    local, domain = address.split("@")
    domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    if len(local) > 64 or not _LOCAL.match(local) or not _DOMAIN.match(domain):
        return None
    return f"{local}@{domain}"


# ---- signed tokens ---------------------------------------------------------------------


class Tokens:
    """Signed, URL-safe tokens (itsdangerous, keyed by SECRET_KEY); one salt per purpose,
    so a token made for one link never works for another."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key

    def _signer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"mail-{purpose}")

    def confirm(self, address: str) -> str:
        return self._signer("confirm").dumps(address)

    def confirmed_address(self, token: str) -> str | None:
        value = self._load("confirm", token, CONFIRM_MAX_AGE)
        return value if isinstance(value, str) else None

    def unsubscribe(self, address: str) -> str:
        return self._signer("unsubscribe").dumps(address)

    def unsubscribe_address(self, token: str) -> str | None:
        value = self._load("unsubscribe", token, None)  # works as long as the key lasts
        return value if isinstance(value, str) else None

    def reset(self, user_id: int, password_hash: str) -> str:
        """Bound to the password hash it replaces: once used (a new hash), it is dead."""
        return self._signer("reset").dumps([user_id, _fingerprint(password_hash)])

    def reset_user(self, token: str, current_hash_of: Callable[[int], str | None]) -> int | None:
        """The author id of a valid reset token; `current_hash_of(id)` reads the hash."""
        value = self._load("reset", token, RESET_MAX_AGE)
        if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], int):
            return None
        current = current_hash_of(value[0])
        return value[0] if current and _fingerprint(current) == value[1] else None

    def _load(self, purpose: str, token: str, max_age: int | None) -> object:
        if not token or len(token) > 500:
            return None
        try:
            return self._signer(purpose).loads(token, max_age=max_age)
        except BadSignature:  # also SignatureExpired
            return None


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:20]


# ---- links -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Links:
    """Absolute URLs for mail, from SITE_URL (jobs have no request to ask). The paths
    are the app's routes; tests check them against Flask's url_for."""

    site_url: str

    @property
    def host(self) -> str:
        return urlsplit(self.site_url).hostname or "localhost"

    def post(self, slug: str) -> str:
        return f"{self.site_url}/posts/{slug}"

    def comments(self, slug: str) -> str:
        return f"{self.site_url}/posts/{slug}#comments"

    def moderation(self) -> str:
        return f"{self.site_url}/moderation"

    def confirm(self, token: str) -> str:
        return f"{self.site_url}/subscribe/confirm/{token}"

    def unsubscribe(self, token: str) -> str:
        return f"{self.site_url}/unsubscribe/{token}"

    def reset(self, token: str) -> str:
        return f"{self.site_url}/login/reset/{token}"


# ---- messages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """What every message of one blog shares."""

    sender: str  # "Blog <news@example.com>" or a bare address
    blog_title: str
    links: Links


def envelope_address(sender: str) -> str:
    """The bare address of a From header, for the SMTP envelope (MAIL FROM)."""
    return parseaddr(sender)[1] or sender


def _message(env: Envelope, to: str, subject: str, text: str, html_body: str) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = env.sender
    msg["To"] = Address(addr_spec=to)
    msg["Subject"] = " ".join(subject.split())  # a header never carries a line break
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=env.links.host)
    msg.set_content(text)
    page = (
        '<!doctype html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family:sans-serif;max-width:40em">{html_body}</body></html>'
    )
    msg.add_alternative(page, subtype="html")
    return msg


def _reader_headers(msg: EmailMessage, env: Envelope, unsubscribe_url: str) -> None:
    """RFC 2919 List-Id and RFC 8058 one-click unsubscribe (a POST with no cookies)."""
    msg["List-Id"] = f"{_header_text(env.blog_title)} <newsletter.{env.links.host}>"
    msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"


def _header_text(text: str) -> str:
    return " ".join(text.replace('"', "").replace("<", "").replace(">", "").split())


def _unsubscribe_footer(url: str) -> tuple[str, str]:
    text = f"\n\n--\nYou get this because you subscribed. Unsubscribe: {url}\n"
    html_part = (
        '<hr><p style="color:#666;font-size:small">You get this because you subscribed. '
        f'<a href="{escape(url)}">Unsubscribe</a></p>'
    )
    return text, html_part


@dataclass(frozen=True)
class PostSummary:
    title: str
    excerpt: str
    slug: str
    author: str


def announcement_message(
    env: Envelope, to: str, post: PostSummary, unsubscribe_token: str
) -> EmailMessage:
    """A new post for one subscriber: title, excerpt, absolute link, unsubscribe."""
    url = env.links.post(post.slug)
    unsubscribe_url = env.links.unsubscribe(unsubscribe_token)
    foot_text, foot_html = _unsubscribe_footer(unsubscribe_url)
    text = f"{post.title}\nby {post.author}\n\n{post.excerpt}\n\nRead it: {url}" + foot_text
    html_body = (
        f"<h1>{escape(post.title)}</h1><p>by {escape(post.author)}</p>"
        f"<p>{escape(post.excerpt)}</p>"
        f'<p><a href="{escape(url)}">Read “{escape(post.title)}”</a></p>' + foot_html
    )
    msg = _message(env, to, f"{post.title} · {env.blog_title}", text, html_body)
    _reader_headers(msg, env, unsubscribe_url)
    return msg


def confirmation_message(env: Envelope, to: str, confirm_token: str) -> EmailMessage:
    """Double opt-in: nothing is sent to the address until this link is followed."""
    url = env.links.confirm(confirm_token)
    text = (
        f"Someone (we hope you) asked to get new posts of {env.blog_title} by email.\n\n"
        f"Confirm your subscription: {url}\n\n"
        "The link works for 48 hours. If it was not you, ignore this message: "
        "you will get nothing more.\n"
    )
    html_body = (
        f"<p>Someone (we hope you) asked to get new posts of {escape(env.blog_title)} "
        "by email.</p>"
        f'<p><a href="{escape(url)}">Confirm your subscription</a></p>'
        "<p>The link works for 48 hours. If it was not you, ignore this message: "
        "you will get nothing more.</p>"
    )
    return _message(env, to, f"Confirm your subscription to {env.blog_title}", text, html_body)


def reset_message(env: Envelope, to: str, username: str, reset_token: str) -> EmailMessage:
    url = env.links.reset(reset_token)
    text = (
        f"Hello {username},\n\nSet a new password for {env.blog_title}: {url}\n\n"
        "The link works once, for one hour. If you did not ask for it, ignore this "
        "message: your password stays as it is.\n"
    )
    html_body = (
        f"<p>Hello {escape(username)},</p>"
        f'<p><a href="{escape(url)}">Set a new password for {escape(env.blog_title)}</a></p>'
        "<p>The link works once, for one hour. If you did not ask for it, ignore this "
        "message: your password stays as it is.</p>"
    )
    return _message(env, to, f"Reset your password · {env.blog_title}", text, html_body)


@dataclass(frozen=True)
class CommentSummary:
    name: str
    body: str
    pending: bool


MAX_COMMENTS_IN_NOTICE = 20
COMMENT_PREVIEW = 500


def comments_message(
    env: Envelope, to: str, post: PostSummary, comments: list[CommentSummary]
) -> EmailMessage:
    """One notice for every comment since the last one (a flood becomes one message)."""
    shown = comments[:MAX_COMMENTS_IN_NOTICE]
    waiting = sum(c.pending for c in comments)
    count = f"{len(comments)} new comment{'s' if len(comments) != 1 else ''}"
    lines, items = [], []
    for c in shown:
        body = c.body if len(c.body) <= COMMENT_PREVIEW else c.body[:COMMENT_PREVIEW] + "…"
        flag = " (waiting for your approval)" if c.pending else ""
        lines.append(f"{c.name}{flag}:\n{body}\n")
        items.append(
            f"<li><strong>{escape(c.name)}</strong>{escape(flag)}:"
            f'<p style="white-space:pre-wrap">{escape(body)}</p></li>'
        )
    more = len(comments) - len(shown)
    tail = f"... and {more} more.\n" if more else ""
    links = f"Read them: {env.links.comments(post.slug)}\n"
    if waiting:
        links += f"Approve or delete: {env.links.moderation()}\n"
    text = f"{count} on “{post.title}”:\n\n" + "\n".join(lines) + tail + "\n" + links
    html_body = (
        f"<p>{escape(count)} on “{escape(post.title)}”:</p><ul>{''.join(items)}</ul>"
        + (f"<p>… and {more} more.</p>" if more else "")
        + f'<p><a href="{escape(env.links.comments(post.slug))}">Read them</a>'
        + (f' · <a href="{escape(env.links.moderation())}">Moderation</a>' if waiting else "")
        + "</p>"
    )
    return _message(env, to, f"{count} on “{post.title}”", text, html_body)
