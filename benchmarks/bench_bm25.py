"""Benchmark the segmented BM25 index against rank-bm25 and bm25s, in one process.

    /work/venv/bin/python benchmarks/bench_bm25.py --docs 14000

The corpus is synthesised from the real samples in ../shared/data (Claude Code JSONL,
console export, ChatGPT export): runs of their sentences make documents whose lengths are
lognormal (median ~480 tokens, mean ~900, a tail past 10,000; a token is ~4 characters),
with identifiers, paths, hashes and numbers injected so the vocabulary grows as it does in
real sessions. Everything is seeded. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from benchmarks.synth import CHARS_PER_TOKEN, DATA, Synth, sentence_pool
from memdistill.index import analyze as analyze_module
from memdistill.index import bm25 as bm25_module
from memdistill.index.analyze import analyze
from memdistill.index.bm25 import BM25Index

# ------------------------------------------------------------------ measuring


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def per_query_ms(fn: Callable[[str], Any], queries: list[str]) -> tuple[list[float], list[Any]]:
    """Per-query wall times in ms, measured on a second pass (the first one warms caches)."""
    for q in queries:
        fn(q)
    times, results = [], []
    for q in queries:
        t0 = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t0) * 1000)
    return times, results


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(values, p))


def rss_mb() -> float:
    try:
        import psutil
    except ImportError:
        return float("nan")
    return float(psutil.Process().memory_info().rss) / 2**20


def reset_caches() -> None:
    analyze_module._cache = {}
    analyze_module._stems.clear()
    bm25_module._term_ids.clear()


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def overlap(a: list[int], b: list[int]) -> float:
    return len(set(a) & set(b)) / max(1, len(set(a) | set(b)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=14_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ref-queries", type=int, default=100, help="queries run by rank-bm25")
    parser.add_argument("--skip-ref", action="store_true", help="skip rank-bm25 and bm25s")
    args = parser.parse_args()

    rows: list[tuple[str, str]] = []

    def row(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"  {name:<52} {value}", flush=True)

    if not DATA.is_dir():
        sys.exit(f"{DATA} is absent; set MEMDISTILL_SHARED_DATA to the folder of real samples")
    pool = sentence_pool()
    synth = Synth(pool, args.seed)
    n_extra = 10 * args.batch
    t, docs = timed(lambda: [synth.document() for _ in range(args.docs + n_extra)])
    corpus, extra = docs[: args.docs], docs[args.docs :]
    ids = list(range(1, args.docs + 1))
    queries = synth.queries(args.queries)
    toks = [len(d) / CHARS_PER_TOKEN for d in corpus]
    print(f"pool: {len(pool)} sentences; corpus synthesised in {t:.1f} s")
    row("docs", f"{len(corpus)}")
    row("tokens/doc (chars/4): mean / median / max", f"{statistics.mean(toks):.0f} / "
        f"{statistics.median(toks):.0f} / {max(toks):.0f}")  # fmt: skip
    row("docs over 10,000 tokens", f"{sum(x > 10_000 for x in toks)}")
    gc.collect()
    rss0 = rss_mb()

    # -- ours: ingest path (batched adds), queries, adds, save/load
    reset_caches()
    index = BM25Index()

    def batched() -> None:
        for s in range(0, len(corpus), args.batch):
            index.add(ids[s : s + args.batch], corpus[s : s + args.batch])

    t, _ = timed(batched)
    row(f"ours: build as {math.ceil(len(corpus) / args.batch)} adds of {args.batch} (cold caches)",
        f"{t:.2f} s, {index.segment_count} segments")  # fmt: skip
    postings = sum(len(s.docs) for s in index._segments)
    terms = sum(len(s.terms) for s in index._segments)
    row("ours: postings / distinct terms (summed over segments)", f"{postings:,} / {terms:,}")
    row("ours: analyzed terms per doc (mean)",
        f"{sum(int(s.lengths.sum()) for s in index._segments) / len(corpus):.0f}")  # fmt: skip
    analyze(queries[0])
    times, ours = per_query_ms(lambda q: index.search(q, args.k), queries)
    row(f"ours: query p50 / p95, k={args.k}, {index.segment_count} segments",
        f"{pct(times, 50):.2f} / {pct(times, 95):.2f} ms")  # fmt: skip
    ours_p50 = pct(times, 50)
    times, _ = per_query_ms(lambda q: index.search(q, 100), queries)
    row("ours: query p50 / p95, k=100", f"{pct(times, 50):.2f} / {pct(times, 95):.2f} ms")
    allowed = np.array(ids[::3], np.int64)
    times, _ = per_query_ms(lambda q: index.search(q, args.k, allowed), queries)
    row(f"ours: query p50 / p95, allowed = 1/3 of ids ({len(allowed)})",
        f"{pct(times, 50):.2f} / {pct(times, 95):.2f} ms")  # fmt: skip

    snapshot = index._segments
    t, _ = timed(index.merge)
    row("ours: merge() all segments into one (no re-analysis)", f"{t * 1000:.0f} ms")
    times, merged = per_query_ms(lambda q: index.search(q, args.k), queries)
    row("ours: query p50 / p95 after merge() to 1 segment",
        f"{pct(times, 50):.2f} / {pct(times, 95):.2f} ms")  # fmt: skip
    same = all(a == b for a, b in zip(ours, merged, strict=True))
    row(f"ours: {len(snapshot)}-segment results == 1-segment results", f"{same}")
    index._segments = snapshot

    reset_caches()
    one = BM25Index()
    t, _ = timed(lambda: one.add(ids, corpus))
    row("ours: build as one add (cold caches)", f"{t:.2f} s")
    one = BM25Index()  # release it

    add_times, n_seg = [], []
    for j in range(10):
        new_ids = list(range(10**6 + j * args.batch, 10**6 + (j + 1) * args.batch))
        chunk = extra[j * args.batch : (j + 1) * args.batch]
        t, _ = timed(lambda i=new_ids, c=chunk: index.add(i, c))
        add_times.append(t * 1000)
        n_seg.append(index.segment_count)
    row(f"ours: add {args.batch} docs into the index, 10 times: p50 / max",
        f"{pct(add_times, 50):.0f} / {max(add_times):.0f} ms "
        f"(segments {min(n_seg)}-{max(n_seg)})")  # fmt: skip

    tmp = Path(tempfile.mkdtemp(prefix="bench-bm25-"))
    try:
        folder = tmp / "verbatim.bm25"
        t, _ = timed(lambda: index.save(folder, {"generation": 1}))
        row("ours: save (full)", f"{t * 1000:.0f} ms, {folder_mb(folder):.1f} MB on disk")
        index.remove(ids[:50])
        index.add(list(range(2 * 10**6, 2 * 10**6 + 20)), extra[:20])
        t, _ = timed(lambda: index.save(folder, {"generation": 2}))
        row("ours: save after 50 removes + 20 adds (incremental)", f"{t * 1000:.0f} ms")
        t, (loaded, _) = timed(lambda: BM25Index.load(folder))
        row("ours: load (mmap)", f"{t * 1000:.1f} ms")
        t, _ = timed(lambda: loaded.search(queries[0], args.k))
        row("ours: first query after load", f"{t * 1000:.1f} ms")
        times, _ = per_query_ms(lambda q: loaded.search(q, args.k), queries)
        row("ours: query p50 / p95 on the loaded index",
            f"{pct(times, 50):.2f} / {pct(times, 95):.2f} ms")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    gc.collect()
    row(
        "RSS after ours (corpus text held in memory)", f"{rss_mb():.0f} MB (+{rss_mb() - rss0:.0f})"
    )

    if args.skip_ref:
        return
    index = BM25Index()
    index.add(ids, corpus)
    tokenized = [analyze(d) for d in corpus]
    qtokens = [analyze(q) for q in queries]

    # -- rank-bm25 with Lucene's idf: the reference
    from rank_bm25 import BM25Okapi

    class LuceneBM25(BM25Okapi):
        def _calc_idf(self, nd: dict[str, int]) -> None:
            for word, freq in nd.items():
                self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))

    t, ref = timed(lambda: LuceneBM25(tokenized, k1=1.2, b=0.75))
    row("rank-bm25: build", f"{t:.2f} s")
    nref = min(args.ref_queries, len(queries))
    id_arr = np.array(ids)

    def ref_search(i: int) -> list[int]:
        scores = ref.get_scores(qtokens[i])
        top = np.lexsort((id_arr, -scores))[: args.k]
        return [int(id_arr[j]) for j in top if scores[j] > 0]

    times, ref_top = per_query_ms(lambda q: ref_search(queries.index(q)), queries[:nref])
    ref_p50 = pct(times, 50)
    row(f"rank-bm25: query p50 / p95 ({nref} queries)", f"{ref_p50:.1f} / {pct(times, 95):.1f} ms")
    ours_top = [[i for i, _ in index.search(q, args.k)] for q in queries[:nref]]
    agree = sum(a == b for a, b in zip(ours_top, ref_top, strict=True))
    row("rank-bm25 vs ours: identical top-k lists", f"{agree}/{nref}")
    ref = None
    gc.collect()

    # -- bm25s, Lucene variant, same tokens
    import bm25s

    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    t, _ = timed(lambda: retriever.index(tokenized, show_progress=False))
    row("bm25s: build (from our tokens)", f"{t:.2f} s")

    def bm25s_search(q: str) -> list[int]:
        docs, scores = retriever.retrieve(
            [qtokens[queries.index(q)]], k=args.k, show_progress=False, n_threads=0
        )
        return [ids[int(d)] for d, s in zip(docs[0], scores[0], strict=True) if s > 0]

    times, s_top = per_query_ms(bm25s_search, queries)
    bm25s_p50 = pct(times, 50)
    row("bm25s: query p50 / p95", f"{bm25s_p50:.2f} / {pct(times, 95):.2f} ms")
    ours_all = [[i for i, _ in index.search(q, args.k)] for q in queries]
    mean_overlap = statistics.mean(overlap(a, b) for a, b in zip(ours_all, s_top, strict=True))
    row("bm25s vs ours: mean top-k overlap (float32 ties differ)", f"{mean_overlap:.3f}")
    row("speed ratio, query p50: rank-bm25 / ours", f"{ref_p50 / ours_p50:.0f}x")
    row("speed ratio, query p50: bm25s / ours", f"{bm25s_p50 / ours_p50:.2f}x")
    row("RSS at the end", f"{rss_mb():.0f} MB")

    print("\n| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
