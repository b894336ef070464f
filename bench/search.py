"""Search: this project's Redis index against SQLite FTS5 (bm25), on the same posts.

Generates posts (default 100,000) of 300 to 1,500 words drawn from real English word
frequencies (wordfreq's list: a Zipf-like distribution), plus planted posts that must
rank first for their queries. Both engines index the same title, tags and text, with the
same field weights (title 3, tags 2, body 1) and Snowball/Porter stemming; then both run
the same queries of one to three words drawn from the same distribution (stop words
skipped: they are no-ops here and would only slow FTS5 down). Prints a table:

- indexing throughput (posts/s): our `flask search reindex` path (read, analyse, write
  through the Lua script) and FTS5's INSERTs plus its 'optimize';
- query latency p50/p99 (ms), each query fetching the ids of the best 10 and the total;
- mean reciprocal rank of the planted posts (top 10);
- index size per post: Redis `MEMORY USAGE` of every search key, and the FTS5 file
  (index alone from dbstat, and with the text FTS5 keeps).

    .venv/bin/python bench/search.py              # 100,000 posts (long: see README)
    .venv/bin/python bench/search.py --posts 10000
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

from blog.data import DataLayer, PostInput, connect
from blog.search import service
from devtools.redis_server import RedisServer
from processing.search.text import ENGLISH_STOP_WORDS

PREFIX = "bench:"
VOCABULARY = 30_000
# Tag names that are no English word ("topic-12" would put "topic" in every post).
TAGS = [f"tg{i}x" for i in range(200)]
PLANTED = 50
CHUNK = 500


def vocabulary() -> tuple[list[str], list[float]]:
    """Real English words and their frequencies, most frequent first."""
    from wordfreq import top_n_list, word_frequency

    words = [w for w in top_n_list("en", VOCABULARY) if w.isalpha() and w.isascii()]
    return words, [word_frequency(w, "en") for w in words]


class Corpus:
    def __init__(self, seed: int, min_words: int, max_words: int) -> None:
        self.words, weights = vocabulary()
        self.cumulative = []
        total = 0.0
        for w in weights:
            total += w
            self.cumulative.append(total)
        self.rng = random.Random(seed)
        self.min_words, self.max_words = min_words, max_words

    def draw(self, k: int) -> list[str]:
        return self.rng.choices(self.words, cum_weights=self.cumulative, k=k)

    def post(self, i: int) -> tuple[str, list[str], str]:
        title = " ".join(self.draw(self.rng.randint(3, 8))).capitalize()
        tags = self.rng.sample(TAGS, self.rng.randint(1, 3))
        words = self.draw(self.rng.randint(self.min_words, self.max_words))
        paragraphs = [" ".join(words[j : j + 80]) for j in range(0, len(words), 80)]
        return title, tags, "\n\n".join(paragraphs)

    def query_words(self, k: int) -> list[str]:
        words: list[str] = []
        while len(words) < k:
            word = self.draw(1)[0]
            if word not in ENGLISH_STOP_WORDS and word not in words:
                words.append(word)
        return words

    def planted(self, n: int) -> list[tuple[list[str], tuple[str, list[str], str], list]]:
        """(query, target post, decoys): the target has both words in its title (half of
        them) or three times each in a short body; decoys have them once in long ones."""
        middle = self.words[2000:8000]
        out = []
        for i in range(n):
            query = self.rng.sample(middle, 2)
            filler = " ".join(self.draw(self.min_words))
            if i % 2:
                target = (f"{query[0]} and {query[1]}".capitalize(), ["planted"], filler)
            else:
                body = " ".join(self.draw(self.min_words // 3)) + (" " + " ".join(query)) * 3
                target = (" ".join(self.draw(5)).capitalize(), ["planted"], body)
            decoys = []
            for _ in range(3):
                long = self.draw(self.max_words)
                long[len(long) // 3], long[2 * len(long) // 3] = query
                decoys.append((" ".join(self.draw(5)).capitalize(), ["planted"], " ".join(long)))
            out.append((query, target, decoys))
        return out


def _write_posts(args: tuple[str, list[tuple[int, str, list[str], str]]]) -> list[int]:
    url, posts = args
    data = DataLayer(connect(url), PREFIX)
    ids = []
    for _, title, tags, body in posts:
        post = data.posts.create(1, "alice", PostInput(title, body, tags, "published"))
        ids.append(post.id)
    return ids


def build(args: argparse.Namespace, url: str, fts: sqlite3.Connection):
    corpus = Corpus(args.seed, args.min_words, args.max_words)
    rows: list[tuple[int, str, list[str], str]] = []
    planted = corpus.planted(PLANTED)
    targets = []  # (query words, index of the target row)
    for query, target, decoys in planted:
        targets.append((query, len(rows)))
        rows.append((len(rows), *target))
        base = len(rows)
        rows.extend((base + j, *d) for j, d in enumerate(decoys))
    while len(rows) < args.posts:
        rows.append((len(rows), *corpus.post(len(rows))))
    random.Random(args.seed).shuffle(rows)
    print(f"generated {len(rows):,} posts", file=sys.stderr)

    started = time.perf_counter()
    chunks = [(url, rows[i : i + CHUNK]) for i in range(0, len(rows), CHUNK)]
    with Pool(2) as pool:
        id_chunks = pool.map(_write_posts, chunks)
    post_id = {
        row[0]: pid
        for chunk, ids in zip(chunks, id_chunks, strict=True)
        for row, pid in zip(chunk[1], ids, strict=True)
    }
    print(f"stored posts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # The writes marked every post for the batched indexing (no worker runs here): the
    # reindex below indexes them all, and the memory figure is the index's alone.
    stored = DataLayer(connect(url), PREFIX)
    stored.redis.delete(stored.keys.search_pending, stored.keys.search_queued)

    fts.execute(
        "CREATE VIRTUAL TABLE posts USING fts5(title, tags, body, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    started = time.perf_counter()
    with fts:
        fts.executemany(
            "INSERT INTO posts(rowid, title, tags, body) VALUES (?, ?, ?, ?)",
            ((post_id[i], t, " ".join(g), b) for i, t, g, b in rows),
        )
    fts.execute("INSERT INTO posts(posts) VALUES ('optimize')")
    fts.commit()
    fts_seconds = time.perf_counter() - started
    print(f"FTS5 indexed in {fts_seconds:.0f} s", file=sys.stderr)

    data = DataLayer(connect(url), PREFIX)
    started = time.perf_counter()
    service.reindex(data, batch_size=200)
    redis_seconds = time.perf_counter() - started
    print(f"Redis indexed in {redis_seconds:.0f} s", file=sys.stderr)
    planted_queries = [(q, post_id[row]) for q, row in targets]
    queries = [
        corpus.query_words(random.Random(args.seed + n).randint(1, 3)) for n in range(args.queries)
    ]
    return data, planted_queries, queries, len(rows), redis_seconds, fts_seconds


def fts_query(
    fts: sqlite3.Connection, words: list[str], count: bool = True
) -> tuple[list[int], int]:
    """The best 10 ids and, like our search page, the number of matches."""
    match = " ".join(f'"{w}"' for w in words)
    ids = [
        r[0]
        for r in fts.execute(
            "SELECT rowid FROM posts WHERE posts MATCH ? ORDER BY bm25(posts, 3.0, 2.0, 1.0) "
            "LIMIT 10",
            (match,),
        )
    ]
    if not count:
        return ids, -1
    total = fts.execute("SELECT count(*) FROM posts WHERE posts MATCH ?", (match,)).fetchone()[0]
    return ids, total


def redis_query(data: DataLayer, words: list[str]) -> tuple[list[int], int]:
    """The search page's query without loading the posts: ids and total."""
    found: list[int] = []
    results = data.search.search(
        service.parse(data, " ".join(words)), 1, 10, lambda ids: found.extend(ids) or []
    )
    return found, results.total


def timed(run, queries) -> tuple[list[float], list]:
    times, answers = [], []
    for words in queries:
        started = time.perf_counter()
        answers.append(run(words))
        times.append((time.perf_counter() - started) * 1000)
    return times, answers


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def mrr(answers: list[tuple[list[int], int]], expected: list[int]) -> float:
    total = 0.0
    for (ids, _), want in zip(answers, expected, strict=True):
        if want in ids:
            total += 1 / (ids.index(want) + 1)
    return total / len(expected)


def redis_index_bytes(data: DataLayer) -> int:
    head = data.keys.search_layout()[0]
    total, batch = 0, []
    for key in data.redis.scan_iter(match=head + "*", count=5000):
        batch.append(key)
        if len(batch) == 5000:
            total += _memory(data, batch)
            batch = []
    return total + (_memory(data, batch) if batch else 0)


def _memory(data: DataLayer, keys: list[str]) -> int:
    pipe = data.redis.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(v or 0 for v in pipe.execute())


def fts_sizes(fts: sqlite3.Connection, path: Path) -> tuple[int, int]:
    """(index alone, whole file) in bytes."""
    index = fts.execute(
        "SELECT sum(pgsize) FROM dbstat WHERE name IN ('posts_data', 'posts_idx')"
    ).fetchone()[0]
    return index, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--min-words", type=int, default=300)
    parser.add_argument("--max-words", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="search-bench-"))
    server = RedisServer(workdir, persistent=False).start()
    fts_path = workdir / "fts.sqlite"
    fts = sqlite3.connect(fts_path)
    try:
        data, planted, queries, posts, redis_s, fts_s = build(args, server.url, fts)
        for words in queries[:20]:  # warm both up (connections, page cache)
            redis_query(data, words)
            fts_query(fts, words)
        r_times, _ = timed(lambda w: redis_query(data, w), queries)
        f_times, _ = timed(lambda w: fts_query(fts, w), queries)
        f10_times, _ = timed(lambda w: fts_query(fts, w, count=False), queries)
        expected = [target for _, target in planted]
        _, r_planted = timed(lambda w: redis_query(data, w), [q for q, _ in planted])
        _, f_planted = timed(lambda w: fts_query(fts, w), [q for q, _ in planted])
        r_bytes = redis_index_bytes(data)
        f_index, f_file = fts_sizes(fts, fts_path)
    finally:
        fts.close()
        server.stop()
    r50, r99 = percentile(r_times, 50), percentile(r_times, 99)
    f50, f99 = percentile(f_times, 50), percentile(f_times, 99)
    print(
        f"\n{posts:,} posts of {args.min_words}-{args.max_words} words; {len(queries)} queries; "
        f"{len(planted)} planted queries; {os.cpu_count()} cores\n"
    )
    print("| engine | index posts/s | p50 ms | p99 ms | MRR | index bytes/post |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| Redis (this project) | {posts / redis_s:,.0f} | {r50:.2f} | {r99:.2f} | "
        f"{mrr(r_planted, expected):.3f} | {r_bytes / posts:,.0f} |"
    )
    print(
        f"| SQLite FTS5 bm25 | {posts / fts_s:,.0f} | {f50:.2f} | {f99:.2f} | "
        f"{mrr(f_planted, expected):.3f} | {f_index / posts:,.0f} "
        f"(file with text: {f_file / posts:,.0f}) |"
    )
    print(
        f"| SQLite FTS5, best 10 without the count | | {percentile(f10_times, 50):.2f} | "
        f"{percentile(f10_times, 99):.2f} | | |"
    )
    print(
        f"\nratios Redis/FTS5: p50 {r50 / f50:.2f} (goal <= 1), p99 {r99 / f99:.2f} (goal <= 1.5), "
        f"memory {r_bytes / f_index:.2f}, indexing speed {(posts / redis_s) / (posts / fts_s):.2f}"
    )


if __name__ == "__main__":
    main()
