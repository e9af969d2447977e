"""Evaluation runs: every configuration of a grid over one store, written as TREC files.

The runs folder is the contract with the report (docs/evaluation.md): plain TREC qrels
and runs, the queries as run, per-query latency and per-exchange token counts, so other
tools can score the same runs. Searches go through the retriever directly, never through
`Memory.search`, so evaluation never counts as usage of a memory.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memdistill import __version__
from memdistill.api import Memory
from memdistill.errors import ConfigError
from memdistill.retrieve.fusion import FUSIONS
from memdistill.retrieve.modes import MODES, layers_of
from memdistill.retrieve.retriever import Retriever
from memdistill.store.read import Filters

from .datasets import Notes, Query, is_locomo, load_queries, locomo_queries

RUN_DEPTH = 100
_SPACE = re.compile(r"\s")


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


def docid(source_id: str) -> str:
    """TREC ids cannot hold whitespace."""
    return _SPACE.sub("_", source_id)


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def run_eval(
    corpus: Sequence[Path],
    runs_out: Path,
    *,
    queries_path: Path | None = None,
    configs: Sequence[Config] | None = None,
    store: Path | None = None,
    embedder: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Ingest the corpus (incrementally), run every configuration, write the runs folder."""
    runs_out.mkdir(parents=True, exist_ok=True)
    (runs_out / "runs").mkdir(exist_ok=True)
    queries, notes = _queries(corpus, queries_path)
    configs = list(configs or grid())
    store_path = store or runs_out / "store"
    with Memory.open(store_path, embedder=embedder) as memory:
        report = memory.ingest(list(corpus))
        if report.exchanges_added + report.exchanges_updated + report.exchanges_skipped == 0:
            raise ConfigError(f"the corpus gave no exchanges ({report.problems[:3]}); "
                              "check the paths given to --corpus")  # fmt: skip
        exchange_of = _exchange_docids(memory)
        judged, unknown = _write_qrels(runs_out, queries, exchange_of)
        for qid, message_id in unknown:
            notes.dropped.append({"qid": qid, "id": message_id, "why": "no such message"})
        # Unlabelled queries need LLM graders; without them they cannot be scored.
        unjudged = [q for q in queries if q.relevant is None]
        for q in unjudged:
            notes.dropped.append({"qid": q.qid, "id": "", "why": "no labels to judge it by"})
        run_queries = [q for q in queries if q.relevant is not None]
        _write_jsonl(runs_out / "queries.jsonl", [q.as_json() for q in run_queries])
        retriever = Retriever(memory.store, memory.tenant, memory.indexes, memory.embedder)
        total = len(configs) * len(run_queries)
        done = 0
        for config in configs:
            latency = _run_one(retriever, config, run_queries, runs_out / "runs")
            done += len(run_queries)
            if progress:
                progress(config.name, done, total)
            meta = {**asdict(config), "name": config.name,
                    "embedder": memory.embedder_name, "latency_ms": latency}  # fmt: skip
            (runs_out / "runs" / f"{config.name}.json").write_text(json.dumps(meta, indent=1))
        _write_compression(memory, runs_out / "compression.jsonl")
        embedder_id = memory.store.get_meta("embedder")
    (runs_out / "notes.json").write_text(json.dumps(notes.as_json(), indent=1))
    config_json = {
        "command": shlex.join(sys.argv) if sys.argv and sys.argv[0] else None,
        "corpus": [str(p) for p in corpus],
        "queries": str(queries_path) if queries_path else None,
        "store": str(store_path),
        "configs": [c.name for c in configs],
        "run_depth": RUN_DEPTH,
        "embedder": embedder_id,
        "distiller": "offline",
        "memdistill_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "queries_run": len(run_queries),
        "queries_judged": judged,
    }
    (runs_out / "config.json").write_text(json.dumps(config_json, indent=1))
    return config_json


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


def _exchange_docids(memory: Memory) -> dict[str, list[str]]:
    """Source message id -> the docids of the exchanges holding a message with that id."""
    mapping: dict[str, list[str]] = {}
    for message_id, exchange_id in memory.store.db.execute(
        "SELECT m.external_id, e.external_id FROM messages m "
        "JOIN exchanges e ON e.id = m.exchange_id WHERE m.tenant = ?",
        [memory.tenant],
    ):
        mapping.setdefault(message_id, []).append(docid(exchange_id))
    return mapping


def _write_qrels(
    runs_out: Path, queries: list[Query], exchange_of: dict[str, list[str]]
) -> tuple[int, list[tuple[str, str]]]:
    """qrels-labels.txt and qrels.txt; an exchange's grade is its best message's grade."""
    lines: list[str] = []
    unknown: list[tuple[str, str]] = []
    judged = 0
    for query in queries:
        if not query.relevant:
            judged += query.relevant is not None
            continue
        grades: dict[str, int] = {}
        for message_id, grade in query.relevant.items():
            targets = exchange_of.get(message_id)
            if not targets:
                unknown.append((query.qid, message_id))
            for target in targets or []:
                grades[target] = max(grade, grades.get(target, 0))
        judged += 1
        lines += [f"{query.qid} 0 {doc} {grade}" for doc, grade in sorted(grades.items())]
    text = "".join(line + "\n" for line in lines)
    (runs_out / "qrels-labels.txt").write_text(text)
    (runs_out / "qrels.txt").write_text(text)
    return judged, unknown


def _run_one(
    retriever: Retriever, config: Config, queries: list[Query], folder: Path
) -> dict[str, float]:
    latency: dict[str, float] = {}
    lines: list[str] = []
    for query in queries:
        t0 = time.perf_counter()
        hits = retriever.search(
            query.query,
            k=config.k,
            mode=config.mode,
            fusion=config.fusion or "rrf",
            filters=Filters(project=query.project),
        )
        latency[query.qid] = round((time.perf_counter() - t0) * 1000, 3)
        for rank, hit in enumerate(hits, start=1):
            doc = docid(hit.source_message_ids[0])
            lines.append(f"{query.qid} Q0 {doc} {rank} {hit.score:.6f} {config.name}")
    (folder / f"{config.name}.trec").write_text("".join(line + "\n" for line in lines))
    return latency


def _write_compression(memory: Memory, path: Path) -> None:
    rows = memory.store.db.execute(
        "SELECT e.external_id, e.verbatim_tokens, m.distilled_tokens FROM exchanges e "
        "JOIN memories m ON m.exchange_id = e.id WHERE e.tenant = ? ORDER BY e.id",
        [memory.tenant],
    )
    _write_jsonl(path, [
        {"docid": docid(r[0]), "verbatim_tokens": r[1], "distilled_tokens": r[2]} for r in rows
    ])  # fmt: skip


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
