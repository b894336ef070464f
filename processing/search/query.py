"""The query language a reader types into the search box.

    redis streams          every word must match (in any field, any word form)
    "sorted set"           the words next to each other, in this order
    -memcached             leave out posts with this word (or -"a phrase")
    tag:python             only posts with this tag (-tag:python: without it)

Case, accents and word forms do not matter (the same Analyzer as the index). A word that
analyzes to several terms (e-mail, 東京都) is a phrase of them. Stop words are ignored,
except as gaps inside a phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import STOP, Analyzer

MAX_QUERY_LENGTH = 200
MAX_TERMS = 16  # terms a query may name in all: bounds the work of one search
MAX_TAG_LENGTH = 50

_PART = re.compile(r'(-?)(?:"([^"]*)"?|tag:(\S*)|(\S+))', re.IGNORECASE)


class QueryError(ValueError):
    """A query that cannot be run; the message is for the reader."""


EMPTY = "Type one or more words to search for."
TOO_LONG = f"That search is too long: at most {MAX_QUERY_LENGTH} characters, please."
NOTHING = (
    "There is nothing to search for in that: use words with letters or digits "
    "(very common words such as “the” are left out)."
)
ONLY_EXCLUDED = "Say what to look for, not only what to leave out (-word)."
TOO_MANY = f"That search has too many words: at most {MAX_TERMS}, please."


@dataclass
class Query:
    terms: list[str] = field(default_factory=list)  # every result has all of them
    phrases: list[str] = field(default_factory=list)  # " a _ b " patterns of the stream
    excluded_terms: list[str] = field(default_factory=list)
    excluded_phrases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    excluded_tags: list[str] = field(default_factory=list)

    @property
    def highlight(self) -> frozenset[str]:
        """Terms to mark in titles and snippets."""
        return frozenset(self.terms)

    def size(self) -> int:
        return sum(
            len(x) for x in (self.terms, self.excluded_terms, self.tags, self.excluded_tags)
        ) + sum(len(p.split()) for p in self.phrases + self.excluded_phrases)


def parse_query(raw: str, analyzer: Analyzer) -> Query:
    """A Query, or QueryError with a message for the reader."""
    text = (raw or "").strip()
    if not text:
        raise QueryError(EMPTY)
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(TOO_LONG)
    query = Query()
    for match in _PART.finditer(text):
        minus, phrase, tag, word = match.groups()
        if tag is not None:
            _add_tag(query, tag, bool(minus))
        else:
            _add_words(query, analyzer.terms(word if phrase is None else phrase), bool(minus))
    if not query.terms and not query.tags and not query.phrases:
        if query.excluded_terms or query.excluded_phrases or query.excluded_tags:
            raise QueryError(ONLY_EXCLUDED)
        raise QueryError(NOTHING)
    if query.size() > MAX_TERMS:
        raise QueryError(TOO_MANY)
    return query


def _add_tag(query: Query, tag: str, excluded: bool) -> None:
    tag = tag.strip().lower()  # tags are stored lower-cased (see normalise_tags)
    if not tag or len(tag) > MAX_TAG_LENGTH:
        return  # "tag:" alone: nothing to filter on
    target = query.excluded_tags if excluded else query.tags
    if tag not in target:
        target.append(tag)


def _add_words(query: Query, terms: list[str], excluded: bool) -> None:
    # Stop words at the ends of a phrase constrain nothing.
    while terms and terms[0] == STOP:
        terms.pop(0)
    while terms and terms[-1] == STOP:
        terms.pop()
    if not terms:
        return
    if len(terms) == 1:
        target = query.excluded_terms if excluded else query.terms
        if terms[0] not in target:
            target.append(terms[0])
        return
    pattern = f" {' '.join(terms)} "
    if excluded:
        query.excluded_phrases.append(pattern)
        return
    query.phrases.append(pattern)
    for term in terms:
        if term != STOP and term not in query.terms:
            query.terms.append(term)
