"""What the index stores for one post: its stream, lengths, term weights and the entries
that make it a suggestion."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .ranking import term_weights
from .text import AnalyzedPost, words

SUGGEST_TITLE_WORDS = 12  # a title can be found by the prefixes of its first 12 words
SEPARATOR = "\x1f"  # between the parts of a suggestion entry (never in a word)


@dataclass(frozen=True)
class IndexEntry:
    stream: str
    lengths: tuple[int, int, int]
    weights: dict[str, int]
    title_suggestions: str  # "\n"-joined entries
    tag_suggestions: str


def index_entry(
    post_id: int,
    title: str,
    tags: Iterable[str],
    analyzed: AnalyzedPost,
    average_lengths: tuple[float, float, float],
) -> IndexEntry:
    titles, tag_entries = suggestion_entries(post_id, title, tags)
    return IndexEntry(
        stream=analyzed.stream,
        lengths=analyzed.lengths,
        weights=term_weights(analyzed.frequencies, analyzed.lengths, average_lengths),
        title_suggestions=titles,
        tag_suggestions=tag_entries,
    )


def suggestion_entries(post_id: int, title: str, tags: Iterable[str]) -> tuple[str, str]:
    """A post's suggestion entries: its title from each of its first words on, and each
    tag from each of its words on (so "red" finds "Learning Redis" and "redis-streams").
    Read by prefix (ZRANGEBYLEX): "<words>\\x1fp\\x1f<post id>", "<words>\\x1fg\\x1f<tag>"."""
    title_words = words(title)[:SUGGEST_TITLE_WORDS]
    titles = {
        f"{' '.join(title_words[i:])}{SEPARATOR}p{SEPARATOR}{post_id}"
        for i in range(len(title_words))
    }
    tag_entries: set[str] = set()
    for tag in tags:
        parts = words(tag)
        tag_entries |= {
            f"{' '.join(parts[i:])}{SEPARATOR}g{SEPARATOR}{tag}" for i in range(len(parts))
        }
    return "\n".join(sorted(titles)), "\n".join(sorted(tag_entries))


def suggestion_prefix(typed: str) -> str:
    """What a reader typed, as the start of suggestion entries ("Learning Re" ->
    "learning re")."""
    return " ".join(words(typed))
