"""Text analysis: posts and queries go through the same steps, so they meet on terms.

1. `fold`: case folded, Latin accents removed (é -> e, ß -> ss), compatibility forms
   unified (full-width Ｒｅｄｉｓ -> redis). Only the combining diacritical marks
   U+0300-U+036F go: Japanese voicing marks (が) and Hangul stay as they are.
2. Words are runs of letters and digits (`_` and punctuation split them).
3. CJK (Han, kana, Hangul) has no spaces between words, so a CJK run becomes its
   overlapping bigrams (東京都 -> 東京, 京都), as Lucene's CJK analyzer does; a run of
   one character is one term. A query's CJK run is a phrase of its bigrams.
4. Stop words (the language's list, see STOP_WORDS) leave a gap (`STOP`) so phrases still
   line up; other words are stemmed with the Snowball stemmer of the language (PyStemmer).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import Stemmer

STOP = "_"  # where a stop word (or an over-long token) was: keeps positions for phrases
FIELD_BREAK = "|"  # between title, tags and body in a stream: phrases never span it
MAX_TERM_LENGTH = 40  # longer "words" are base64, hashes or junk, never typed in a search

CACHE_SIZE = 200_000  # words remembered by an Analyzer (a few tens of MB at most)

_WORD = re.compile(r"[^\W_]+")
_CJK = re.compile(
    "([\u3040-\u30ff\u3131-\u318e\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+)"
)
_ACCENTS = re.compile("[\u0300-\u036f]")

# The Snowball project's English stop words, plus the pieces its contractions split into
# here ("isn't" -> "isn", "t").
_ENGLISH = """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing would should could ought a an the and but if or because as until while
    of at by for with about against between into through during before after above below
    to from up down in out on off over under again further then once here there when where
    why how all any both each few more most other some such no nor not only own same so
    than too very cannot can let isn aren wasn weren hasn haven hadn doesn don didn wouldn
    shan shouldn couldn mustn s t d ll m re ve
"""
ENGLISH_STOP_WORDS = frozenset(_ENGLISH.split())
STOP_WORDS = {"english": ENGLISH_STOP_WORDS, "porter": ENGLISH_STOP_WORDS}


def languages() -> list[str]:
    """Languages with a stemmer (values of SEARCH_LANGUAGE)."""
    return sorted(Stemmer.algorithms())


def fold(text: str) -> str:
    """Case, accents and compatibility forms removed: "Ｃafé Straße" -> "cafe strasse"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFKC", _ACCENTS.sub("", decomposed))


@dataclass(frozen=True)
class AnalyzedPost:
    """A post as the index sees it."""

    stream: str  # every position's term (or STOP), fields split by FIELD_BREAK
    lengths: tuple[int, int, int]  # terms in title, tags, body
    frequencies: dict[str, tuple[int, int, int]]  # term -> occurrences in title, tags, body


class Analyzer:
    """Turns text into terms for one language (a Snowball stemmer and its stop words)."""

    def __init__(self, language: str = "english") -> None:
        if language not in Stemmer.algorithms():
            raise ValueError(f"no stemmer for {language!r}; one of: {', '.join(languages())}")
        self.language = language
        self._stemmer = Stemmer.Stemmer(language, 50_000)  # C stemmer with its own cache
        self.stop_words = STOP_WORDS.get(language, frozenset())
        self._cache: dict[str, list[str]] = {}  # word -> terms: words repeat (Zipf)

    def word_terms(self, word: str) -> list[str]:
        """Terms of one folded word (letters and digits only): several for CJK."""
        terms = self._cache.get(word)
        if terms is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            terms = self._cache[word] = self._analyze_word(word)
        return terms

    def folded_word_terms(self, word: str) -> list[str]:
        """Terms of a word as written (any case, accents)."""
        return [t for w in _WORD.findall(fold(word)) for t in self.word_terms(w)]

    def _analyze_word(self, word: str) -> list[str]:
        terms: list[str] = []
        for i, piece in enumerate(_CJK.split(word)):
            if not piece:
                continue
            if i % 2:  # split() with a group puts the CJK runs at odd places
                terms.extend([piece] if len(piece) == 1 else _bigrams(piece))
            elif piece in self.stop_words or len(piece) > MAX_TERM_LENGTH:
                terms.append(STOP)
            else:
                terms.append(self._stemmer.stemWord(piece))
        return terms

    def terms(self, text: str) -> list[str]:
        """Every position's term in order, STOP for stop words."""
        out: list[str] = []
        cache, extend = self._cache, out.extend  # the hot loop of indexing
        for word in _WORD.findall(fold(text)):
            terms = cache.get(word)
            extend(terms if terms is not None else self.word_terms(word))
        return out

    def analyze_post(self, title: str, tags: list[str], text: str) -> AnalyzedPost:
        fields = [self.terms(title), [], self.terms(text)]
        tag_streams = []
        for tag in tags:
            tag_terms = self.terms(tag)
            fields[1].extend(tag_terms)
            tag_streams.append(" ".join(tag_terms))
        counts = [Counter(field) for field in fields]
        for count in counts:
            count.pop(STOP, None)
        # Most terms are only in the body: start from it (this runs for every post).
        frequencies = {term: (0, 0, n) for term, n in counts[2].items()}
        for term, n in counts[1].items():
            t, _, b = frequencies.get(term, (0, 0, 0))
            frequencies[term] = (t, n, b)
        for term, n in counts[0].items():
            _, g, b = frequencies.get(term, (0, 0, 0))
            frequencies[term] = (n, g, b)
        stream = f" {FIELD_BREAK} ".join(
            [" ".join(fields[0]), f" {FIELD_BREAK} ".join(tag_streams), " ".join(fields[2])]
        )
        lengths = (sum(counts[0].values()), sum(counts[1].values()), sum(counts[2].values()))
        return AnalyzedPost(stream=stream, lengths=lengths, frequencies=frequencies)


def _bigrams(run: str) -> list[str]:
    return [run[i : i + 2] for i in range(len(run) - 1)]


def words(text: str) -> list[str]:
    """The folded words of a text, unanalysed (for prefix suggestions)."""
    return _WORD.findall(fold(text))


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word in the original text, for highlighting."""
    return [m.span() for m in _WORD.finditer(text)]
