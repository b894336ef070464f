"""Full-text search, the pure part: text analysis, the query language, BM25F weights and
highlighted snippets. No Flask, no Redis: the data layer (blog/data/search.py) stores
what these functions compute, and the tests check them on plain strings."""

from .entry import IndexEntry, index_entry, suggestion_entries, suggestion_prefix
from .query import MAX_QUERY_LENGTH, Query, QueryError, parse_query
from .ranking import average_lengths, idf, term_weights
from .snippet import highlight, snippet
from .text import FIELD_BREAK, STOP, AnalyzedPost, Analyzer, fold, words

__all__ = [
    "FIELD_BREAK",
    "MAX_QUERY_LENGTH",
    "STOP",
    "AnalyzedPost",
    "Analyzer",
    "IndexEntry",
    "Query",
    "QueryError",
    "average_lengths",
    "fold",
    "highlight",
    "idf",
    "index_entry",
    "parse_query",
    "snippet",
    "suggestion_entries",
    "suggestion_prefix",
    "term_weights",
    "words",
]
