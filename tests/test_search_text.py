"""The pure part of search: analysis, query language, BM25F weights, snippets."""

from __future__ import annotations

import pytest

from processing.search import (
    STOP,
    Analyzer,
    QueryError,
    average_lengths,
    highlight,
    idf,
    parse_query,
    snippet,
    term_weights,
)
from processing.search import query as query_module
from processing.search.text import fold


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer("english")


def test_fold_removes_case_accents_and_width():
    assert fold("Ｃafé STRASSE Straße Ærø naïve") == "cafe strasse strasse ærø naive"
    assert fold("が") == "が"  # a Japanese voicing mark is not an accent
    assert fold("한국어") == "한국어"  # Hangul syllables stay whole


def test_terms_are_stemmed_and_stop_words_leave_gaps(analyzer):
    assert analyzer.terms("The databases are running") == [STOP, "databas", STOP, "run"]
    assert analyzer.terms("Running RUNS run") == ["run", "run", "run"]
    assert analyzer.terms("snake_case e-mail") == ["snake", "case", "e", "mail"]


def test_cjk_runs_become_bigrams(analyzer):
    assert analyzer.terms("東京都") == ["東京", "京都"]
    assert analyzer.terms("東") == ["東"]
    assert analyzer.terms("Redisは速い") == ["redi", "は速", "速い"]


def test_over_long_tokens_are_not_terms(analyzer):
    assert analyzer.terms("a" * 41 + " redis") == [STOP, "redi"]


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="no stemmer for 'klingon'"):
        Analyzer("klingon")


def test_other_languages_stem_with_their_own_rules():
    french = Analyzer("french")
    assert french.terms("Les chanteuses chantaient") == french.terms("les chanteuse chantait")


def test_analyze_post_counts_terms_per_field(analyzer):
    post = analyzer.analyze_post("Redis streams", ["redis", "background-jobs"], "A stream.")
    assert post.frequencies["redi"] == (1, 1, 0)
    assert post.frequencies["stream"] == (1, 0, 1)
    assert post.lengths == (2, 3, 1)
    # Fields and tags are kept apart so a phrase never spans two of them.
    assert post.stream == "redi stream | redi | background job | _ stream"


def test_words_must_all_match(analyzer):
    q = parse_query("Redis Streams", analyzer)
    assert q.terms == ["redi", "stream"] and not q.phrases


def test_phrases_keep_order_and_stop_word_gaps(analyzer):
    q = parse_query('"state of the art" cache', analyzer)
    assert q.phrases == [" state _ _ art "]
    assert q.terms == ["state", "art", "cach"]


def test_unclosed_quote_is_a_phrase_to_the_end(analyzer):
    assert parse_query('"sorted sets', analyzer).phrases == [" sort set "]


def test_exclusions_and_tags(analyzer):
    q = parse_query('redis -memcached -"key value" tag:Python -tag:go', analyzer)
    assert q.terms == ["redi"]
    assert q.excluded_terms == ["memcach"]
    assert q.excluded_phrases == [" key valu "]
    assert q.tags == ["python"]
    assert q.excluded_tags == ["go"]


def test_a_word_of_several_terms_is_a_phrase(analyzer):
    q = parse_query("e-mail 東京都", analyzer)
    assert q.phrases == [" e mail ", " 東京 京都 "]


def test_tag_alone_is_a_query(analyzer):
    q = parse_query("tag:redis", analyzer)
    assert q.tags == ["redis"] and not q.terms


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", query_module.EMPTY),
        ("   ", query_module.EMPTY),
        ("x" * 201, query_module.TOO_LONG),
        ("!!! ??? ...", query_module.NOTHING),
        ("the of and", query_module.NOTHING),
        ("-redis", query_module.ONLY_EXCLUDED),
        ("-tag:go", query_module.ONLY_EXCLUDED),
        ("tag:", query_module.NOTHING),
        (" ".join(f"word{i}" for i in range(17)), query_module.TOO_MANY),
    ],
)
def test_bad_queries_get_a_message(analyzer, raw, message):
    with pytest.raises(QueryError) as error:
        parse_query(raw, analyzer)
    assert str(error.value) == message


def test_a_query_of_200_characters_is_fine(analyzer):
    assert parse_query("redis " + "x" * 194, analyzer).terms


def test_weights_favour_titles_and_short_fields():
    averages = (5.0, 2.0, 500.0)
    title = term_weights({"t": (1, 0, 0)}, (5, 2, 500), averages)["t"]
    tag = term_weights({"t": (0, 1, 0)}, (5, 2, 500), averages)["t"]
    body = term_weights({"t": (0, 0, 1)}, (5, 2, 500), averages)["t"]
    assert title > tag > body
    short = term_weights({"t": (0, 0, 1)}, (5, 2, 100), averages)["t"]
    assert short > body  # length normalisation


def test_weights_saturate():
    averages = (5.0, 2.0, 500.0)
    weights = [term_weights({"t": (0, 0, n)}, (5, 2, 500), averages)["t"] for n in (1, 2, 10, 100)]
    assert weights == sorted(weights)
    assert weights[-1] < 2.2 * 1000  # never past (k1 + 1)
    assert weights[1] - weights[0] > weights[3] - weights[2]


def test_idf_and_averages():
    assert idf(1000, 1) > idf(1000, 100) > idf(1000, 1000) > 0
    assert average_lengths((10, 4, 1000), 2) == (5, 2, 500)
    assert average_lengths((0, 0, 0), 0) == (0.0, 0.0, 0.0)


def test_snippet_escapes_text_and_marks_matches(analyzer):
    text = "<script>alert(1)</script> Before. " + "filler " * 40 + "Redis streams are logs."
    out = snippet(text, frozenset({"redi", "stream"}), analyzer, words=10)
    assert "<script>" not in out
    assert "<mark>Redis</mark> <mark>streams</mark>" in out
    assert out.startswith("…")


def test_snippet_without_matches_is_the_start(analyzer):
    out = snippet("One two three four five", frozenset({"zzz"}), analyzer, words=3)
    assert str(out) == "One two three…"


def test_snippet_prefers_the_window_with_most_terms(analyzer):
    text = "redis " + "x " * 50 + "redis streams together " + "y " * 50
    out = snippet(text, frozenset({"redi", "stream"}), analyzer, words=8)
    assert "<mark>redis</mark> <mark>streams</mark> together" in out


def test_highlight_matches_word_forms_and_accents(analyzer):
    out = highlight("Cafés & <Running>", frozenset({"cafe", "run"}), analyzer)
    assert str(out) == "<mark>Cafés</mark> &amp; &lt;<mark>Running</mark>&gt;"
