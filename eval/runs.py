"""Evaluation runs: every configuration of a grid over one store, written as TREC files.

The runs folder is the contract with the report (docs/evaluation.md): plain TREC qrels
and runs, the queries as run, per-query latency and per-exchange token counts, so other
tools can score the same runs. Searches go through the retriever directly, never through
`Memory.search`, so evaluation never counts as usage of a memory.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from memdistill import __version__
from memdistill.api import Memory
from memdistill.errors import ConfigError
from memdistill.retrieve.fusion import DEFAULT_FUSION, FUSIONS
from memdistill.retrieve.modes import MODES, layers_of
from memdistill.retrieve.retriever import Retriever
from memdistill.store.read import Filters

from .datasets import Notes, Query, is_locomo, load_queries, locomo_queries
from .docids import Docids, store_docids
from .extras import require
from .graders import GradeCache, LabelGrader, Pair, PairGrader, agreement, consensus, grade_pool
from .runstore import corpus_key, runs_folder_store

RUN_DEPTH = 100
LATENCY_K = 10  # latency is also measured at the search's default k (latency_ms_k10)
POOL_DEPTH = 10  # LLM graders judge each configuration's top 10 for unlabelled queries


@dataclass(frozen=True, slots=True)
class Config:
    mode: str
    fusion: str | None  # None for a single layer: nothing to fuse
    k: int = RUN_DEPTH
    embedder: str = "onnx"
    distiller: str = "offline"

    @property
    def name(self) -> str:
        """Starts with the mode as the CLI spells it, then a dot."""
        return self.mode if self.fusion is None else f"{self.mode}.{self.fusion}"


def grid(modes: Sequence[str] = MODES, fusions: Sequence[str] = FUSIONS) -> list[Config]:
    """Every mode; every fusion for the modes that fuse more than one layer."""
    configs = []
    for mode in modes:
        if len(layers_of(mode)) == 1:
            configs.append(Config(mode, None))
        else:
            for fusion in fusions:
                if fusion not in FUSIONS:
                    raise ConfigError(f"unknown fusion {fusion!r}; use: {', '.join(FUSIONS)}")
                configs.append(Config(mode, fusion))
    return configs


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def run_eval(
    corpus: Sequence[Path],
    runs_out: Path,
    *,
    queries_path: Path | None = None,
    configs: Sequence[Config] | None = None,
    store: Path | None = None,
    embedder: str | None = None,
    graders: Sequence[PairGrader] = (),
    pool_depth: int = POOL_DEPTH,
    grade_concurrency: int = 4,
    grades_cache: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ingest the corpus, run every configuration, judge, write the folder.

    Without `store`, the store is `runs_out/store`, reused only for the previous run's
    corpus and embedder (eval/runstore.py); `store` is used as it is (ingest is incremental).
    """
    runs_out.mkdir(parents=True, exist_ok=True)
    _clear_previous_results(runs_out)
    (runs_out / "runs").mkdir(exist_ok=True)
    queries, notes = _queries(corpus, queries_path)
    configs = list(configs or grid())
    if graders:  # before any work: agreement comes after every grading call
        require(("krippendorff",), "agreement between LLM graders")
    if store is None:
        decided = runs_folder_store(runs_out, corpus, embedder)
        store_path, store_note = decided.path, decided.why
    else:
        store_path, store_note = store, "given explicitly: used as it is"
    with Memory.open(store_path, embedder=embedder) as memory:
        config_json: dict[str, Any] = {
            "command": shlex.join(sys.argv) if sys.argv and sys.argv[0] else None,
            "corpus": corpus_key(corpus),
            "queries": str(queries_path) if queries_path else None,
            "store": str(store_path.expanduser().resolve()),
            "store_note": store_note,
            "configs": [c.name for c in configs],
            "run_depth": RUN_DEPTH,
            "latency_k": LATENCY_K,
            "embedder": memory.embedder.model_id,
            "distiller": "offline",
            "graders": [g.name for g in graders],
            "pool_depth": pool_depth if graders else None,
            "memdistill_version": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        # Written before the ingest, so a run that stops half-way still says what its store
        # holds (the next run decides from it whether to reuse the store); completed below.
        _write_json(runs_out / "config.json", config_json)
        report = memory.ingest(list(corpus))
        if memory.stats().exchanges == 0:
            problems = "; ".join(str(p) for p in report.problems[:3]) or "no chat logs found"
            raise ConfigError(f"the corpus gave no exchanges ({problems}); "
                              "check the paths given to --corpus")  # fmt: skip
        docids = store_docids(memory.store, memory.tenant)
        labels = _label_qrels(queries, _exchange_docids(memory, docids), notes)
        if not graders:  # unlabelled queries need LLM graders: without them, no score
            for q in queries:
                if q.relevant is None:
                    notes.dropped.append({"qid": q.qid, "id": "", "why": "no labels, no graders"})
            queries = [q for q in queries if q.relevant is not None]
        _write_jsonl(runs_out / "queries.jsonl", [q.as_json() for q in queries])
        retriever = Retriever(memory.store, memory.tenant, memory.indexes, memory.embedder)
        total = len(configs) * len(queries)
        pools: dict[str, set[str]] = {}
        for n, config in enumerate(configs, start=1):
            timed = _run_one(retriever, config, queries, docids, runs_out / "runs", pool_depth)
            for qid, top in timed.tops.items():
                pools.setdefault(qid, set()).update(top)
            if progress:
                progress(config.name, n * len(queries), total)
            meta = {**asdict(config), "name": config.name, "embedder": memory.embedder_name,
                    "latency_ms": timed.latency, "latency_ms_k10": timed.latency_k10}  # fmt: skip
            _write_json(runs_out / "runs" / f"{config.name}.json", meta)
        judged = {q.qid for q in queries if q.relevant is not None}
        llm = {}
        if graders:
            unlabelled = [q for q in queries if q.relevant is None]
            llm = _llm_qrels(memory, docids, unlabelled, pools, graders, runs_out,
                             grades_cache, grade_concurrency, pool_depth, progress)  # fmt: skip
            judged |= {qid for qid, _ in llm}
        _write_qrels(runs_out / "qrels-labels.txt", labels)
        _write_qrels(runs_out / "qrels.txt", {**labels, **llm})
        _write_compression(memory, docids, runs_out / "compression.jsonl")
        config_json["embedder"] = memory.store.get_meta("embedder")
    _write_json(runs_out / "notes.json", notes.as_json())
    config_json.update(docids=docids.scheme, queries_run=len(queries), queries_judged=len(judged))
    _write_json(runs_out / "config.json", config_json)
    return config_json


# What a run writes, besides the store and the grade cache (both reused when they fit).
_RESULTS = ("queries.jsonl", "qrels.txt", "qrels-labels.txt", "qrels-llm.txt", "grades.json",
            "compression.jsonl", "notes.json")  # fmt: skip


def _clear_previous_results(runs_out: Path) -> None:
    """A report must never score a run of another grid or corpus left from before."""
    shutil.rmtree(runs_out / "runs", ignore_errors=True)
    for name in _RESULTS:
        (runs_out / name).unlink(missing_ok=True)


def _queries(corpus: Sequence[Path], queries_path: Path | None) -> tuple[list[Query], Notes]:
    if queries_path is not None:
        return load_queries(queries_path), Notes()
    locomo = [p for p in corpus if p.is_file() and is_locomo(p)]
    if not locomo:
        raise ConfigError(
            "no queries: pass --queries QUERIES.jsonl (only a LoCoMo corpus brings its own)"
        )
    queries: list[Query] = []
    notes = Notes()
    for path in locomo:
        found, more = locomo_queries(path)
        queries += found
        notes.fixed += more.fixed
        notes.dropped += more.dropped
    return queries, notes


def _exchange_docids(memory: Memory, docids: Docids) -> dict[str, list[str]]:
    """Source message id -> the docids of the exchanges holding a message with that id
    (more than one when conversations reuse message ids: a label then names each)."""
    mapping: dict[str, list[str]] = {}
    for message_id, row in memory.store.db.execute(
        "SELECT m.external_id, e.id FROM messages m "
        "JOIN exchanges e ON e.id = m.exchange_id WHERE m.tenant = ? ORDER BY e.id, m.seq",
        [memory.tenant],
    ):
        found = mapping.setdefault(message_id, [])
        if docids.of_row[row] not in found:
            found.append(docids.of_row[row])
    return mapping


Qrels = dict[tuple[str, str], int]  # (qid, docid) -> grade


def _label_qrels(queries: list[Query], exchange_of: dict[str, list[str]], notes: Notes) -> Qrels:
    """The label grader: an exchange's grade is its best message's grade."""
    grader = LabelGrader(lambda message_id: exchange_of.get(message_id))
    qrels: Qrels = {}
    for query in queries:
        grades, unknown = grader.judge(query.relevant or {})
        qrels.update({(query.qid, doc): grade for doc, grade in grades.items()})
        notes.dropped += [{"qid": query.qid, "id": m, "why": "no such message"} for m in unknown]
    return qrels


def _llm_qrels(
    memory: Memory,
    docids: Docids,
    queries: list[Query],
    pools: dict[str, set[str]],
    graders: Sequence[PairGrader],
    runs_out: Path,
    cache_path: Path | None,
    concurrency: int,
    pool_depth: int,
    progress: Progress | None,
) -> Qrels:
    """Pooled (query, verbatim exchange) pairs graded by every grader; majority consensus."""
    pairs = []
    for query in queries:
        for doc in sorted(pools.get(query.qid, ())):
            text = memory.verbatim(docids.row_of[doc])
            pairs.append(Pair(query.qid, doc, query.query, text))
    with GradeCache(cache_path or runs_out / "grades.sqlite") as cache:
        tick = (lambda done, total: progress("grading", done, total)) if progress else None
        pool = grade_pool(pairs, graders, cache, concurrency=concurrency, progress=tick)
    qrels: Qrels = {}
    judged_pairs = []
    for (qid, doc), grades in sorted(pool.grades.items()):
        agreed = consensus(grades)
        if agreed is not None:
            qrels[qid, doc] = agreed
        judged_pairs.append({"qid": qid, "docid": doc, "grades": grades, "consensus": agreed})
    summary = {
        "graders": [
            {"name": g.name, "model": g.model, "prompt_version": getattr(g, "prompt_version", None)}
            for g in graders
        ],
        "agreement": agreement(pool.grades, [g.name for g in graders]).as_json(),
        "calls": pool.calls,
        "cached": pool.cached,
        "ungraded": pool.ungraded,
        "pool_depth": pool_depth,
        "pairs": judged_pairs,
    }
    (runs_out / "grades.json").write_text(json.dumps(summary, indent=1))
    _write_qrels(runs_out / "qrels-llm.txt", qrels)
    return qrels


def _write_qrels(path: Path, qrels: Qrels) -> None:
    path.write_text("".join(f"{q} 0 {d} {g}\n" for (q, d), g in sorted(qrels.items())))


@dataclass(slots=True)
class Timed:
    latency: dict[str, float]  # qid -> ms, the search at the run depth
    latency_k10: dict[str, float]  # qid -> ms, the same search at k=10
    tops: dict[str, list[str]]  # qid -> the top docids (the LLM pool)


def _run_one(
    retriever: Retriever,
    config: Config,
    queries: list[Query],
    docids: Docids,
    folder: Path,
    pool_depth: int,
) -> Timed:
    """Writes the run file; returns latencies per qid and each query's top docids."""
    timed = Timed({}, {}, {})
    lines: list[str] = []
    for query in queries:
        search = partial(
            retriever.search,
            query.query,
            mode=config.mode,
            fusion=config.fusion or DEFAULT_FUSION,
            filters=Filters(project=query.project),
        )
        # The default search's latency: k=10 fetches 100 candidates per layer, not 1,000.
        t0 = time.perf_counter()
        search(k=LATENCY_K)
        timed.latency_k10[query.qid] = round((time.perf_counter() - t0) * 1000, 3)
        t0 = time.perf_counter()
        hits = search(k=config.k)
        timed.latency[query.qid] = round((time.perf_counter() - t0) * 1000, 3)
        for rank, hit in enumerate(hits, start=1):
            doc = docids.of_hit(hit)
            lines.append(f"{query.qid} Q0 {doc} {rank} {hit.score:.6f} {config.name}")
            if rank <= pool_depth:
                timed.tops.setdefault(query.qid, []).append(doc)
    (folder / f"{config.name}.trec").write_text("".join(line + "\n" for line in lines))
    return timed


def _write_compression(memory: Memory, docids: Docids, path: Path) -> None:
    rows = memory.store.db.execute(
        "SELECT e.id, e.verbatim_tokens, m.distilled_tokens FROM exchanges e "
        "JOIN memories m ON m.exchange_id = e.id WHERE e.tenant = ? ORDER BY e.id",
        [memory.tenant],
    )
    _write_jsonl(path, [
        {"docid": docids.of_row[r[0]], "verbatim_tokens": r[1], "distilled_tokens": r[2]}
        for r in rows
    ])  # fmt: skip


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, indent=1))


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
