"""The Redis key schema: the only place that spells a key.

docs/data-model.md lists every key, its type and who writes it; keep the two in step.
"""

from __future__ import annotations


class Keys:
    """Builds every key the app uses, under one configurable prefix (default `blog:`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _k(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    # Id counters (INCR).
    def next_id(self, entity: str) -> str:
        return self._k("ids", entity)

    # Posts.
    def post(self, post_id: int) -> str:
        return self._k("post", post_id)

    def post_tags(self, post_id: int) -> str:
        return self._k("post", post_id, "tags")

    def post_comments(self, post_id: int) -> str:
        return self._k("post", post_id, "comments")

    def post_pending(self, post_id: int) -> str:
        return self._k("post", post_id, "pending")

    def post_slugs(self, post_id: int) -> str:
        return self._k("post", post_id, "slugs")

    @property
    def published(self) -> str:
        return self._k("posts", "published")

    @property
    def slugs(self) -> str:
        return self._k("slugs")

    # Tags.
    def tag(self, name: str) -> str:
        return self._k("tag", name)

    @property
    def tags(self) -> str:
        return self._k("tags")

    # Comments.
    def comment(self, comment_id: int) -> str:
        return self._k("comment", comment_id)

    def author_pending(self, user_id: int) -> str:
        return self._k("user", user_id, "pending")

    # Authors.
    def user(self, user_id: int) -> str:
        return self._k("user", user_id)

    @property
    def usernames(self) -> str:
        return self._k("users")

    def user_posts(self, user_id: int) -> str:
        return self._k("user", user_id, "posts")

    # Images (uploads and their cleaning).
    def image(self, image_id: str) -> str:
        return self._k("image", image_id)

    def user_images(self, user_id: int) -> str:
        return self._k("user", user_id, "images")

    # Listing pages change when this does (see blog/pagecache.py); never backed up.
    @property
    def content_version(self) -> str:
        return self._k("cache", "version")

    # Rate limits (expiring; never backed up).
    def rate(self, action: str, client: str, window: int) -> str:
        return self._k("rate", action, client, window)

    # Backups: their own bookkeeping (never backed up, never restored).
    @property
    def backup_runs(self) -> str:
        return self._k("backup", "runs")

    @property
    def backup_last_good(self) -> str:
        return self._k("backup", "last-good")

    @property
    def backup_lock(self) -> str:
        return self._k("backup", "lock")

    # Search (derived: never backed up, rebuilt after a restore; blog/data/search.py).
    # The index lives in numbered generations so `flask search reindex` can build a new
    # one aside and switch to it in one step.
    @property
    def search_generation(self) -> str:
        """The generation queries read (absent: 0)."""
        return self._k("search", "gen")

    @property
    def search_building(self) -> str:
        """The generation a reindex is building (absent when none)."""
        return self._k("search", "building")

    @property
    def search_generations(self) -> str:
        """Counter handing out generation numbers."""
        return self._k("search", "generations")

    def search_scratch(self, token: str) -> str:
        """A query's working set, deleted by the same script that makes it."""
        return self._k("search", "tmp", token)

    def search_layout(self) -> tuple[str, str, str, str, str, str]:
        """How generation keys are spelled, for the Lua scripts that build them:
        head + generation + (":term:" + term | ":doc:" + id | ":meta" | ":suggest" |
        ":tagcount")."""
        return (self._k("search", ""), ":term:", ":doc:", ":meta", ":suggest", ":tagcount")

    def search_term(self, generation: int, term: str) -> str:
        """Sorted set: post ids containing the term, scored by BM25F weight."""
        head, term_part, *_ = self.search_layout()
        return f"{head}{generation}{term_part}{term}"

    def search_doc(self, generation: int, post_id: int) -> str:
        """Hash: what the index holds for one post (stream, lengths, suggestions)."""
        head, _, doc_part, *_ = self.search_layout()
        return f"{head}{generation}{doc_part}{post_id}"

    def search_meta(self, generation: int) -> str:
        """Hash: number of posts and summed field lengths (for averages)."""
        head, *_, meta, _, _ = self.search_layout()
        return f"{head}{generation}{meta}"

    def search_suggest(self, generation: int) -> str:
        """Sorted set (all scores 0, read by lexical range): suggestion entries."""
        head, *_, suggest, _ = self.search_layout()
        return f"{head}{generation}{suggest}"

    def search_tag_counts(self, generation: int) -> str:
        """Hash: a tag's suggestion entry -> indexed posts carrying the tag."""
        head, *_, tag_counts = self.search_layout()
        return f"{head}{generation}{tag_counts}"
