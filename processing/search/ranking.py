"""BM25F: the BM25 ranking function over fields of different weight.

For each term of a post, the occurrences in each field are normalised by that field's
length against its average, weighted (title 3, tags 2, body 1), summed, then saturated:

    tf~ = sum over fields f of  boost_f * tf_f / (1 - b_f + b_f * len_f / avg_len_f)
    weight = tf~ * (k1 + 1) / (k1 + tf~)

The index stores `weight` (times WEIGHT_SCALE, rounded: whole numbers keep Redis's small
sorted sets compact) in the term's sorted set. A query multiplies each term's weights by
the term's inverse document frequency and sums them (ZINTERSTORE ... WEIGHTS idf...), which
is exactly BM25F. `idf` below has a twin in the query script of blog/data/search.py.

Averages are those of the index when the post is written; `flask search reindex`
recomputes every weight with the averages of the whole collection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

K1 = 1.2
# Length normalisation per field: full for the body; light for titles and tags, whose
# lengths vary little (at b = 0.75 a one-word title would outweigh a title holding every
# word of the query).
B = (0.3, 0.3, 0.75)  # title, tags, body
BOOSTS = (3.0, 2.0, 1.0)
WEIGHT_SCALE = 1000


def term_weights(
    frequencies: Mapping[str, tuple[int, int, int]],
    lengths: tuple[int, int, int],
    average_lengths: tuple[float, float, float],
) -> dict[str, int]:
    """Each term's stored weight in one post (at least 1: a match always counts)."""
    title, tags, body = (
        boost / ((1 - b + b * length / avg) if avg > 0 else 1.0)
        for boost, b, length, avg in zip(BOOSTS, B, lengths, average_lengths, strict=True)
    )
    weights = {}
    scale = WEIGHT_SCALE * (K1 + 1)
    for term, (in_title, in_tags, in_body) in frequencies.items():  # hot loop: plain math
        tf = in_title * title + in_tags * tags + in_body * body
        weights[term] = max(1, round(scale * tf / (K1 + tf)))
    return weights


def idf(documents: int, frequency: int) -> float:
    """Inverse document frequency (Lucene's form, never negative)."""
    return math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5))


def average_lengths(
    totals: tuple[float, float, float], documents: int
) -> tuple[float, float, float]:
    """Average title, tags and body lengths of `documents` posts whose lengths sum to
    `totals` (zeros for an empty index: then lengths are not normalised)."""
    if documents <= 0:
        return (0.0, 0.0, 0.0)
    title, tags, body = totals
    return (title / documents, tags / documents, body / documents)
