"""Snippets with the matched words highlighted.

The text is escaped piece by piece and the only markup added is <mark> around words whose
terms the query asked for: a post cannot inject HTML through its snippet.
"""

from __future__ import annotations

from collections import Counter

from markupsafe import Markup, escape

from .text import Analyzer, word_spans

SNIPPET_WORDS = 30
SCAN_LIMIT = 50_000  # characters of a body searched for the best window


def _hits(
    text: str, spans: list[tuple[int, int]], terms: frozenset[str], analyzer: Analyzer
) -> list[frozenset[str]]:
    return [frozenset(analyzer.folded_word_terms(text[s:e])) & terms for s, e in spans]


def _marked(
    text: str, spans: list[tuple[int, int]], hits: list[frozenset[str]], start: int, end: int
) -> Markup:
    parts: list[str] = []
    position = spans[start][0]
    for (s, e), hit in zip(spans[start:end], hits[start:end], strict=True):
        parts.append(escape(text[position:s]))
        word = escape(text[s:e])
        parts.append(Markup(f"<mark>{word}</mark>") if hit else word)
        position = e
    return Markup("").join(parts)


def highlight(text: str, terms: frozenset[str], analyzer: Analyzer) -> Markup:
    """All of a short text (a title), matched words marked."""
    spans = word_spans(text)
    if not spans:
        return escape(text)
    hits = _hits(text, spans, terms, analyzer)
    head, tail = text[: spans[0][0]], text[spans[-1][1] :]
    return escape(head) + _marked(text, spans, hits, 0, len(spans)) + escape(tail)


def snippet(
    text: str, terms: frozenset[str], analyzer: Analyzer, words: int = SNIPPET_WORDS
) -> Markup:
    """The window of `words` words showing the most distinct query terms (the start of the
    text when none shows), matched words marked, "…" where the text was cut."""
    text = " ".join(text[:SCAN_LIMIT].split())
    spans = word_spans(text)
    if not spans:
        return Markup("")
    hits = _hits(text, spans, terms, analyzer)
    start = _best_window(hits, words)
    end = min(len(spans), start + words)
    out = _marked(text, spans, hits, start, end)
    if start > 0:
        out = Markup("…") + out
    if end < len(spans):
        out += Markup("…")
    return out


def _best_window(hits: list[frozenset[str]], words: int) -> int:
    """Start of the first window holding the most distinct terms (sliding, O(n)), a few
    words before its first match."""
    seen: Counter[str] = Counter()
    best, best_end = 0, -1
    for i, hit in enumerate(hits):
        seen.update(hit)
        if i >= words:
            seen.subtract(hits[i - words])
            seen = +seen  # drops the terms whose count fell to 0
        if len(seen) > best:
            best, best_end = len(seen), i
    if best == 0:
        return 0
    first = next(j for j in range(max(0, best_end - words + 1), best_end + 1) if hits[j])
    return max(0, min(first - 3, len(hits) - words))
