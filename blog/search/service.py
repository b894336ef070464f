"""Search end to end: posts read through the data layer, analysed by processing.search,
written back; queries parsed and run. No views: the job and the restore use it too."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache

from processing.search import (
    AnalyzedPost,
    Analyzer,
    IndexEntry,
    Query,
    average_lengths,
    index_entry,
    parse_query,
    suggestion_prefix,
)

from ..data import DataLayer
from ..data.search import DRAIN_BATCH, IndexSource, SearchResults, Suggestion
from ..rendering import plain_text


@cache
def analyzer(language: str) -> Analyzer:
    """One Analyzer per language and process (it remembers the words it has seen)."""
    return Analyzer(language)


def index_post(data: DataLayer, post_id: int) -> str:
    """Bring one post's entries in line with the post: "indexed", "removed" (deleted or
    a draft) or "stale" (changed meanwhile: its change marked it pending again)."""
    source, stats = data.search.read(post_id)
    if source is None:
        return data.search.remove(post_id)
    analyzed = _analyze(data, source)
    totals = _plus(stats.totals, analyzed.lengths)
    entry = index_entry(
        post_id, source.title, source.tags, analyzed, average_lengths(totals, stats.documents + 1)
    )
    return data.search.write(source, entry)


def drain_pending(data: DataLayer, job_id: str, batch_size: int = DRAIN_BATCH) -> dict[str, int]:
    """Index every post written since the last drain (blog/data/search.py has why no id
    is left behind): clear the flag first, then take `batch_size` ids at a time into
    this job's own set and index them one by one, until none is pending. Returns how
    many posts came out "indexed", "removed" and "stale" (changed after the read: the
    change put the id back, a later batch or drain redoes it)."""
    outcome = {"posts": 0, "indexed": 0, "removed": 0, "stale": 0}
    outcome["retaken"] = data.search.start_drain(job_id)
    try:
        while ids := data.search.take_pending(job_id, batch_size):
            for post_id in ids:
                outcome[index_post(data, post_id)] += 1
            outcome["posts"] += len(ids)
    except BaseException:  # an error or the job's timeout: a later drain does them
        with contextlib.suppress(Exception):  # (Redis may be what failed)
            data.search.give_back(job_id)
        raise
    return outcome


def reindex(
    data: DataLayer, progress: Callable[[int, int], None] | None = None, batch_size: int = 200
) -> dict[str, int]:
    """Rebuild the whole index into a new generation, then switch queries to it in one
    step and drop the old one. Queries see the old index, complete, until the switch;
    posts written meanwhile are indexed into both (their jobs see the one being built).
    Weights use the averages of the posts indexed so far (all of them from the first
    batch on: close to the final ones)."""
    generation, ids = data.search.start_rebuild()
    documents, indexed = 0, 0
    totals: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # Redis writes one batch (in a thread) while Python analyses the next.
    with ThreadPoolExecutor(max_workers=1) as writer:
        writing: Future[int] | None = None
        for start in range(0, len(ids), batch_size):
            batch = ids[start : start + batch_size]
            sources = data.search.read_many(batch)
            analyzed = [_analyze(data, source) for source in sources]
            for post in analyzed:
                documents += 1
                totals = _plus(totals, post.lengths)
            averages = average_lengths(totals, documents)
            entries: list[tuple[IndexSource, IndexEntry]] = [
                (s, index_entry(s.post_id, s.title, s.tags, a, averages))
                for s, a in zip(sources, analyzed, strict=True)
            ]
            indexed += writing.result() if writing else 0
            writing = writer.submit(data.search.write_many, entries, generation)
            if progress:
                progress(len(batch), len(ids))
        indexed += writing.result() if writing else 0
    dropped = data.search.finish_rebuild(generation)
    return {"posts": indexed, "generation": int(generation), "old_keys_deleted": dropped}


def parse(data: DataLayer, raw: str) -> Query:
    """The reader's query (QueryError with a message when it cannot run)."""
    return parse_query(raw, analyzer(data.search_language))


def search(data: DataLayer, query: Query, number: int, per_page: int) -> SearchResults:
    return data.search.search(query, number, per_page, data.posts.get_many)


def suggest(data: DataLayer, typed: str) -> list[Suggestion]:
    return data.search.suggest(suggestion_prefix(typed))


def _analyze(data: DataLayer, source: IndexSource) -> AnalyzedPost:
    return analyzer(data.search_language).analyze_post(
        source.title, source.tags, plain_text(source.html)
    )


def _plus(totals: Iterable[float], lengths: Iterable[int]) -> tuple[float, float, float]:
    title, tags, body = (t + n for t, n in zip(totals, lengths, strict=True))
    return (title, tags, body)
