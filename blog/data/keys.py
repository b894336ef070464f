"""The Redis key schema: the only place that spells a key, and says what backups do with it.

Every key builder of `Keys` carries its *family*: a template in the notation of
docs/data-model.md (`post:<id>:tags`) and a backup class:

* `ENTITY`: the data itself, archived and restored (`read_with="post"`: read in the
  same atomic step as its post);
* `DERIVED`: an index rebuilt from the entities after a restore (`blog/data/reindex.py`);
* `EXCLUDED`: neither archived nor restored (caches, rate limits, backup bookkeeping).

A new key family is one decorated method::

    @family("draft:<id>", ENTITY)
    def draft(self, draft_id: int) -> str:
        return self.key("draft", draft_id)

tests/test_key_schema.py fails when a builder has no family or builds keys its
template does not match. Placeholders: `<id>` is a decimal id, `<token>` one segment
without ':', any other `<name>` is free text (may hold ':').
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar


class Backup(enum.Enum):
    """What a backup does with a key family."""

    ENTITY = "entity"
    DERIVED = "derived"
    EXCLUDED = "excluded"


ENTITY, DERIVED, EXCLUDED = Backup.ENTITY, Backup.DERIVED, Backup.EXCLUDED

_SLOT_PATTERNS = {"id": r"(\d+)", "token": r"([^:]+)"}
_FREE_TEXT = r"(.+)"
_SLOT = re.compile(r"<([a-z_]+)>")


@dataclass(frozen=True)
class KeyFamily:
    """One family of keys: its builder's name, its template and its backup class."""

    name: str
    template: str
    backup: Backup
    read_with: str | None = None  # the entity whose atomic read includes this key

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts = _SLOT.split(self.template)  # literal, slot, literal, slot, ...
        regex = "".join(
            re.escape(part) if i % 2 == 0 else _SLOT_PATTERNS.get(part, _FREE_TEXT)
            for i, part in enumerate(parts)
        )
        return re.compile(regex, re.S)

    def match(self, name: str) -> tuple[str, ...] | None:
        """The slot values of a key name (without the prefix), or None."""
        found = self.pattern.fullmatch(name)
        return found.groups() if found else None


Builder = TypeVar("Builder", bound=Callable)


def family(
    template: str, backup: Backup, *, read_with: str | None = None
) -> Callable[[Builder], Builder]:
    """Attach a key family to a builder of `Keys` (put it under `@property` if any)."""

    def attach(builder: Builder) -> Builder:
        described = KeyFamily(builder.__name__, template, backup, read_with)
        builder.key_family = described  # type: ignore[attr-defined]
        return builder

    return attach


def split_key(builder: Callable[..., str], hole: str = "\0") -> tuple[str, str]:
    """(head, tail) of a per-id key (builder: a method of Keys), so a Lua script builds
    `head .. id .. tail` for ids it only learns inside Redis, and only Keys spells keys."""
    head, tail = builder(hole).split(hole)
    return head, tail


class Keys:
    """Builds every key the app uses, under one configurable prefix (default `blog:`)."""

    # The entities whose ids come from `INCR ids:<entity>`; a backup always holds these.
    ID_ENTITIES = ("post", "comment", "user")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, *parts: object) -> str:
        """The prefixed key made of these ':'-joined parts."""
        return self.prefix + ":".join(str(p) for p in parts)

    def name(self, key: str) -> str:
        """A key without the prefix, as archives and families spell it."""
        return key.removeprefix(self.prefix)

    # Id counters (INCR).
    @family("ids:<token>", ENTITY)
    def next_id(self, entity: str) -> str:
        return self.key("ids", entity)

    # The id a create took, under the create's own random token (expiring): a create
    # whose reply was lost is sent again by the client's retry, and finds its id here
    # instead of making a second post (PostStore SAVE_SCRIPT).
    @family("ids:post:<request>", EXCLUDED)
    def post_id_claim(self, request: str) -> str:
        return self.key("ids", "post", request)

    # Posts.
    @family("post:<id>", ENTITY)
    def post(self, post_id: int) -> str:
        return self.key("post", post_id)

    @family("post:<id>:tags", ENTITY, read_with="post")
    def post_tags(self, post_id: int) -> str:
        return self.key("post", post_id, "tags")

    @family("post:<id>:comments", ENTITY, read_with="post")
    def post_comments(self, post_id: int) -> str:
        return self.key("post", post_id, "comments")

    @family("post:<id>:pending", ENTITY, read_with="post")
    def post_pending(self, post_id: int) -> str:
        return self.key("post", post_id, "pending")

    @family("post:<id>:slugs", ENTITY, read_with="post")
    def post_slugs(self, post_id: int) -> str:
        return self.key("post", post_id, "slugs")

    @family("post:<id>:images", DERIVED)
    def post_images(self, post_id: int) -> str:
        return self.key("post", post_id, "images")

    # What a listing shows of the post, in one string (blog/data/cards.py): built from
    # post:<id> and post:<id>:tags by their writers, so backups leave it out.
    @family("post:<id>:card", DERIVED)
    def post_card(self, post_id: int) -> str:
        return self.key("post", post_id, "card")

    @family("post:<id>:revision", ENTITY)
    def post_revision(self, post_id: int) -> str:
        return self.key("post", post_id, "revision")

    @property
    @family("posts:published", DERIVED)
    def published(self) -> str:
        return self.key("posts", "published")

    @property
    @family("slugs", DERIVED)
    def slugs(self) -> str:
        return self.key("slugs")

    # Tags.
    @family("tag:<name>", DERIVED)
    def tag(self, name: str) -> str:
        return self.key("tag", name)

    @property
    @family("tags", DERIVED)
    def tags(self) -> str:
        return self.key("tags")

    # Comments.
    @family("comment:<id>", ENTITY, read_with="post")
    def comment(self, comment_id: int) -> str:
        return self.key("comment", comment_id)

    @family("user:<id>:pending", DERIVED)
    def author_pending(self, user_id: int) -> str:
        return self.key("user", user_id, "pending")

    # Authors.
    @family("user:<id>", ENTITY)
    def user(self, user_id: int) -> str:
        return self.key("user", user_id)

    @property
    @family("users", DERIVED)
    def usernames(self) -> str:
        return self.key("users")

    @family("user:<id>:posts", DERIVED)
    def user_posts(self, user_id: int) -> str:
        return self.key("user", user_id, "posts")

    # An author's live login sessions (expiring; after a restore every author logs in again).
    @family("user:<id>:sessions", EXCLUDED)
    def user_sessions(self, user_id: int) -> str:
        return self.key("user", user_id, "sessions")

    # Images (uploads and their cleaning).
    @family("image:<token>", ENTITY)
    def image(self, image_id: str) -> str:
        return self.key("image", image_id)

    @family("user:<id>:images", DERIVED)
    def user_images(self, user_id: int) -> str:
        return self.key("user", user_id, "images")

    @family("image:<token>:posts", DERIVED)
    def image_posts(self, image_id: str) -> str:
        return self.key("image", image_id, "posts")

    # When each image no post shows became unused (the cleanup job reads it).
    @property
    @family("images:unused", ENTITY)
    def unused_images(self) -> str:
        return self.key("images", "unused")

    # Visitors' pages change when this does (see blog/data/contentwatch.py).
    @property
    @family("cache:version", EXCLUDED)
    def content_version(self) -> str:
        return self.key("cache", "version")

    # When the content version last changed (visitors' Last-Modified).
    @property
    @family("cache:changed-at", EXCLUDED)
    def content_changed_at(self) -> str:
        return self.key("cache", "changed-at")

    # When visitors' comments last changed, and a token: listing pages (comment counts)
    # change with it, post pages only with their own post's signal below.
    @property
    @family("cache:version:comments", EXCLUDED)
    def content_comments(self) -> str:
        return self.key("cache", "version", "comments")

    # Written (expiring) when a post's visible comments change: its name, in the
    # invalidation message, tells web processes which cached post page is stale.
    @family("cache:version:post:<id>", EXCLUDED)
    def content_post(self, post_id: int) -> str:
        return self.key("cache", "version", "post", post_id)

    # /healthz writes here to learn whether Redis accepts writes (expiring).
    @property
    @family("health:probe", EXCLUDED)
    def health_probe(self) -> str:
        return self.key("health", "probe")

    # A pub/sub channel, not a key (nothing is ever stored under it): a PUBLISH to it
    # is replicated like a write, which lets WAIT cover the writes other connections
    # made before (see DataLayer.confirm_saved).
    @property
    @family("replication:barrier", EXCLUDED)
    def replication_barrier(self) -> str:
        return self.key("replication", "barrier")

    # Rate limits: a sliding window of recent attempts (expiring).
    @family("rate:<action>:<client>", EXCLUDED)
    def rate(self, action: str, client: str) -> str:
        return self.key("rate", action, client)

    # Login back-off of one account for clients it does not know (expiring).
    @family("login-backoff:<username>", EXCLUDED)
    def login_backoff(self, username: str) -> str:
        return self.key("login-backoff", username)

    # Newsletter (docs/mail.md). Subscribers: one hash, address -> JSON record, so every
    # change is one atomic write and a backup reads all of them at one moment.
    @property
    @family("subscribers", ENTITY)
    def subscribers(self) -> str:
        return self.key("subscribers")

    # A post's announcement (state, job, counts) and the exactly-once record of the
    # addresses it was sent to. Archived: a restore must not make a post go out twice.
    @family("announcement:<id>", ENTITY)
    def announcement(self, post_id: int) -> str:
        return self.key("announcement", post_id)

    @family("announcement:<id>:sent", ENTITY)
    def announcement_sent(self, post_id: int) -> str:
        return self.key("announcement", post_id, "sent")

    # Mail bookkeeping: the shared sending pace, the last SMTP configuration error,
    # per-address cool-downs and the comment notices' progress.
    @property
    @family("mail:pace", EXCLUDED)
    def mail_pace(self) -> str:
        return self.key("mail", "pace")

    @property
    @family("mail:error", EXCLUDED)
    def mail_error(self) -> str:
        return self.key("mail", "error")

    @family("mail:cooldown:<action>:<subject>", EXCLUDED)
    def mail_cooldown(self, action: str, subject: str) -> str:
        return self.key("mail", "cooldown", action, subject)

    @family("mail:comment-notice:<id>", EXCLUDED)
    def comment_notice(self, post_id: int) -> str:
        return self.key("mail", "comment-notice", post_id)

    # Backups: their own bookkeeping (kept by `restore --force`, see reindex.py).
    @property
    @family("backup:runs", EXCLUDED)
    def backup_runs(self) -> str:
        return self.key("backup", "runs")

    @property
    @family("backup:last-good", EXCLUDED)
    def backup_last_good(self) -> str:
        return self.key("backup", "last-good")

    @property
    @family("backup:lock", EXCLUDED)
    def backup_lock(self) -> str:
        return self.key("backup", "lock")

    # Search (blog/data/search.py, docs/search.md): rebuilt after a restore. The index
    # lives in numbered generations so `flask search reindex` can build a new one aside
    # and switch to it in one step.
    @property
    @family("search:gen", DERIVED)
    def search_generation(self) -> str:
        """The generation queries read (absent: 0)."""
        return self.key("search", "gen")

    @property
    @family("search:building", DERIVED)
    def search_building(self) -> str:
        """The generation a reindex is building (absent when none)."""
        return self.key("search", "building")

    @property
    @family("search:generations", DERIVED)
    def search_generations(self) -> str:
        """Counter handing out generation numbers."""
        return self.key("search", "generations")

    @family("search:tmp:<name>", DERIVED)
    def search_scratch(self, token: str) -> str:
        """A query's working set, deleted by the same script that makes it."""
        return self.key("search", "tmp", token)

    # Batched indexing (docs/search.md "Indexing"): post ids written since the last drain,
    # and whether a drain job is waiting. Excluded from backups: a restore rebuilds the
    # whole index, and a pending id of a post that is gone is harmless (it is removed).
    @property
    @family("search:pending", EXCLUDED)
    def search_pending(self) -> str:
        """Set: ids of posts written whose index entries may be out of date."""
        return self.key("search", "pending")

    @property
    @family("search:queued", EXCLUDED)
    def search_queued(self) -> str:
        """String "1", expiring: a drain job is enqueued and has not started yet."""
        return self.key("search", "queued")

    @family("search:draining:<job>", EXCLUDED)
    def search_draining(self, job_id: str) -> str:
        """Set: the ids a drain job took and has not indexed yet (its retry redoes them)."""
        return self.key("search", "draining", job_id)

    @family("search:<id>:term:<term>", DERIVED)
    def search_layout(self) -> tuple[str, str, str, str, str, str]:
        """How generation keys are spelled, for the Lua scripts that build them:
        head + generation + (":term:" + term | ":doc:" + id | ":meta" | ":suggest" |
        ":tagcount"), the families below."""
        return (self.key("search", ""), ":term:", ":doc:", ":meta", ":suggest", ":tagcount")

    @family("search:<id>:term:<term>", DERIVED)
    def search_term(self, generation: int, term: str) -> str:
        """Sorted set: post ids containing the term, scored by BM25F weight."""
        head, term_part, *_ = self.search_layout()
        return f"{head}{generation}{term_part}{term}"

    @family("search:<id>:doc:<id>", DERIVED)
    def search_doc(self, generation: int, post_id: int) -> str:
        """Hash: what the index holds for one post (stream, lengths, suggestions)."""
        head, _, doc_part, *_ = self.search_layout()
        return f"{head}{generation}{doc_part}{post_id}"

    @family("search:<id>:meta", DERIVED)
    def search_meta(self, generation: int) -> str:
        """Hash: number of posts and summed field lengths (for averages)."""
        head, *_, meta, _, _ = self.search_layout()
        return f"{head}{generation}{meta}"

    @family("search:<id>:suggest", DERIVED)
    def search_suggest(self, generation: int) -> str:
        """Sorted set (all scores 0, read by lexical range): suggestion entries."""
        head, *_, suggest, _ = self.search_layout()
        return f"{head}{generation}{suggest}"

    @family("search:<id>:tagcount", DERIVED)
    def search_tag_counts(self, generation: int) -> str:
        """Hash: a tag's suggestion entry -> indexed posts carrying the tag."""
        head, *_, tag_counts = self.search_layout()
        return f"{head}{generation}{tag_counts}"

    # Document exports (blog/exports): which build runs and the last finished file, per
    # author and format. Excluded from backups: the files expire after EXPORT_KEEP_HOURS
    # and are never archived, so a restored pointer would point at nothing.
    @family("export:<id>:<format>:build", EXCLUDED)
    def export_build(self, user_id: int, fmt: str) -> str:
        return self.key("export", user_id, fmt, "build")

    @family("export:<id>:<format>:file", EXCLUDED)
    def export_file(self, user_id: int, fmt: str) -> str:
        return self.key("export", user_id, fmt, "file")

    # WordPress imports (blog/imports). `imported` maps what identifies an imported item
    # (a post's guid, a comment, an image URL) to the id it got here, written in the same
    # transaction as the item: archived and restored with the posts, so a restored blog
    # still knows what it imported. `import:<id>` is one author's latest import (its job
    # and report): bookkeeping, not backed up.
    @property
    @family("imported", ENTITY)
    def imported(self) -> str:
        return self.key("imported")

    @family("import:<id>", EXCLUDED)
    def import_run(self, user_id: int) -> str:
        return self.key("import", user_id)


_NOT_BUILDERS = ("key", "name")  # the helpers every builder uses


def builders(schema: type[Keys] = Keys) -> Iterator[tuple[str, Callable]]:
    """(name, function) of every key builder `schema` defines (properties unwrapped)."""
    for attr, value in vars(schema).items():
        function = value.fget if isinstance(value, property) else value
        if callable(function) and not attr.startswith("_") and attr not in _NOT_BUILDERS:
            yield attr, function


def _families() -> tuple[KeyFamily, ...]:
    found = tuple(getattr(f, "key_family", None) for _, f in builders())
    return tuple(f for f in found if f is not None)


FAMILIES = _families()
_BY_NAME = {f.name: f for f in FAMILIES}
# Families by their first segment (every template starts with a literal one), so that
# classifying each of a backup's keys tries a handful of patterns, not all of them.
_BY_HEAD: dict[str, list[KeyFamily]] = {}
for _family in FAMILIES:
    _BY_HEAD.setdefault(_family.template.split(":", 1)[0], []).append(_family)


def family_of(name: str) -> KeyFamily | None:
    """The family of a key name (without the prefix); None for a key nobody builds
    (backups keep such keys as they are)."""
    for candidate in _BY_HEAD.get(name.split(":", 1)[0], ()):
        if candidate.pattern.fullmatch(name):
            return candidate
    return None


def family_named(builder: str) -> KeyFamily:
    """The family of the builder `Keys.<builder>`."""
    return _BY_NAME[builder]
