"""The numbers of a runs folder (docs/evaluation.md): ranking quality of every
configuration, and the summaries beside it (absent queries, latency, compression, judgments).

Reads `qrels.txt`, `runs/*.trec` and `queries.jsonl`, and scores each run with
ir-measures on the pytrec_eval provider (trec_eval's own code):

- Binary measures (MRR@10, Recall@5/10, P@5) count grade >= `min_grade` as relevant;
  nDCG@10 uses the grades themselves as gains (trec_eval's linear gains), whatever the
  threshold.
- The rank column is the system's order: runs are re-scored by rank before scoring, so
  trec_eval's own tie-breaking on equal scores (by docid) cannot reorder them.
- Which queries count: every query with at least one exchange at grade >= `min_grade`,
  even when a run returned nothing for it (it scores 0; pytrec_eval would skip it).
  Absent queries (nothing should match) are reported apart, as are non-absent queries
  left with nothing relevant at the threshold, and LoCoMo's category 5 (adversarial) is
  scored but kept out of the overall mean.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from memdistill.errors import ConfigError

from .extras import needs, require
from .textfiles import bad_line, read_json, read_jsonl, split_lines

MEASURES = ("MRR@10", "Recall@5", "Recall@10", "nDCG@10", "P@5")
ADVERSARIAL = "5"  # LoCoMo's adversarial category: scored, kept out of the overall mean
UNTYPED = "(none)"
QRELS_FILES = ("qrels.txt", "qrels-labels.txt", "qrels-llm.txt")


@dataclass(frozen=True, slots=True)
class QueryInfo:
    qid: str
    query: str = ""
    type: str | None = None
    absent: bool = False
    category: str | None = None


@dataclass(frozen=True, slots=True)
class Ranked:
    docid: str
    rank: int
    score: float


Run = dict[str, list[Ranked]]  # qid -> documents in rank order


@dataclass(slots=True)
class RunsFolder:
    path: Path
    queries: dict[str, QueryInfo]
    qrels: dict[str, dict[str, int]]  # qid -> docid -> grade
    runs: dict[str, Run]  # configuration name -> run
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Evaluation:
    min_grade: int
    scored: list[str]  # the queries of the overall mean
    adversarial: list[str]  # LoCoMo category 5, scored apart
    absent: list[str]
    no_relevant: list[str]  # not absent, but nothing at grade >= min_grade: not scorable
    per_query: dict[str, dict[str, dict[str, float]]]  # config -> measure -> qid -> value
    queries: dict[str, QueryInfo]

    def query_sets(self) -> dict[str, list[str]]:
        return {
            "scored": self.scored,
            "adversarial": self.adversarial,
            "absent": self.absent,
            "no_relevant": self.no_relevant,
        }

    def mean(self, config: str, measure: str, qids: Iterable[str] | None = None) -> float:
        values = self.per_query[config][measure]
        chosen = list(self.scored if qids is None else qids)
        return statistics.fmean(values[q] for q in chosen) if chosen else 0.0

    def overall(self) -> dict[str, dict[str, float]]:
        return {c: {m: self.mean(c, m) for m in MEASURES} for c in self.per_query}

    def by_type(self) -> dict[str, dict[str, Any]]:
        """Per query type over the scored queries: {type: {"n", "metrics": {config: ...}}}."""
        groups: dict[str, list[str]] = {}
        for qid in self.scored:
            groups.setdefault(self.queries[qid].type or UNTYPED, []).append(qid)
        return {t: self._group(qids) for t, qids in sorted(groups.items())}

    def by_category(self) -> dict[str, dict[str, Any]]:
        """LoCoMo categories (category 5 included); empty when no query has one."""
        groups: dict[str, list[str]] = {}
        for qid in self.scored + self.adversarial:
            category = self.queries[qid].category
            if category is not None:
                groups.setdefault(category, []).append(qid)
        return {c: self._group(qids) for c, qids in sorted(groups.items())}

    def _group(self, qids: list[str]) -> dict[str, Any]:
        metrics = {c: {m: self.mean(c, m, qids) for m in MEASURES} for c in self.per_query}
        return {"n": len(qids), "metrics": metrics}


def measures_for(min_grade: int) -> dict[str, Any]:
    """Our names -> ir-measures objects at the relevance threshold."""
    with needs("ir_measures", "scoring runs"):
        from ir_measures import RR, P, R, nDCG
    return {
        "MRR@10": RR(rel=min_grade) @ 10,
        "Recall@5": R(rel=min_grade) @ 5,
        "Recall@10": R(rel=min_grade) @ 10,
        "nDCG@10": nDCG @ 10,
        "P@5": P(rel=min_grade) @ 5,
    }


def evaluate(folder: RunsFolder, min_grade: int = 1) -> Evaluation:
    """Per-query values of every measure for every configuration, on the judged queries."""
    if min_grade < 1:
        raise ConfigError(f"min_grade must be 1 or more (got {min_grade}); 1 = related")
    require(("ir_measures", "pytrec_eval"), "scoring runs")
    import ir_measures
    from ir_measures import Qrel, ScoredDoc

    scored: list[str] = []
    adversarial: list[str] = []
    absent: list[str] = []
    no_relevant: list[str] = []
    for qid, info in sorted(folder.queries.items()):
        grades = folder.qrels.get(qid, {})
        if info.absent:
            absent.append(qid)
        elif not any(g >= min_grade for g in grades.values()):
            no_relevant.append(qid)
        elif info.category == ADVERSARIAL:
            adversarial.append(qid)
        else:
            scored.append(qid)
    judged = scored + adversarial
    names = measures_for(min_grade)
    by_measure = {m: name for name, m in names.items()}
    qrels = [Qrel(q, d, g) for q in judged for d, g in folder.qrels[q].items()]
    evaluator = ir_measures.pytrec_eval.evaluator(list(names.values()), qrels)
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    for config, run in sorted(folder.runs.items()):
        # Zeros first: a query the run returned nothing for still counts.
        values = {m: dict.fromkeys(judged, 0.0) for m in names}
        docs: list[ScoredDoc] = []
        for qid in judged:
            ranked = run.get(qid, [])
            # Scores from the rank order: trec_eval re-sorts by score, ties by docid.
            docs += [ScoredDoc(qid, d.docid, float(len(ranked) - i)) for i, d in enumerate(ranked)]
        for metric in evaluator.iter_calc(docs):
            if metric.query_id in values[by_measure[metric.measure]]:
                values[by_measure[metric.measure]][metric.query_id] = float(metric.value)
        per_query[config] = values
    return Evaluation(
        min_grade, scored, adversarial, absent, no_relevant, per_query, folder.queries
    )


def absent_summary(folder: RunsFolder, absent: list[str]) -> dict[str, Any]:
    """What came back for queries that should find nothing: information, not quality."""
    configs: dict[str, Any] = {}
    for config, run in sorted(folder.runs.items()):
        tops = [run[q][0].score for q in absent if run.get(q)]
        configs[config] = {
            "queries_with_hits": len(tops),
            "mean_top_score": statistics.fmean(tops) if tops else None,
        }
    queries = {
        q: {"configs_with_hits": sum(bool(run.get(q)) for run in folder.runs.values())}
        for q in absent
    }
    return {"n": len(absent), "configs": configs, "queries": queries}


def run_latency(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """p50/p95 of a run's search latency and the k it was measured at: `latency_ms_k10`
    (the same search at k=10, the default) when recorded, else `latency_ms` (each search
    at the run's depth, as older runs folders have it); None when neither is there."""
    k10 = latency_summary(meta.get("latency_ms_k10"))
    if k10 is not None:
        return {**k10, "k": 10}
    depth = latency_summary(meta.get("latency_ms"))
    k = meta.get("k")
    return None if depth is None else {**depth, "k": k if isinstance(k, int) else None}


def latency_summary(latency_ms: object) -> dict[str, float] | None:
    """p50/p95 of `{qid: ms}`; None when it was not recorded."""
    if not isinstance(latency_ms, dict) or not latency_ms:
        return None
    ms = [float(v) for v in latency_ms.values()]
    p50, p95 = np.percentile(ms, [50, 95])
    return {"p50": float(p50), "p95": float(p95), "n": len(ms)}


def compression_summary(path: Path) -> dict[str, Any] | None:
    """Verbatim vs distilled tokens per exchange; None without compression.jsonl."""
    if not path.is_file():
        return None
    verbatim: list[float] = []
    distilled: list[float] = []
    for number, record in read_jsonl(path):
        v, d = record.get("verbatim_tokens"), record.get("distilled_tokens")
        if not isinstance(v, int | float) or not isinstance(d, int | float):
            what = "needs numbers `verbatim_tokens` and `distilled_tokens`"
            raise bad_line(path, number, what)
        verbatim.append(float(v))
        distilled.append(float(d))
    if not verbatim:
        return None
    # An exchange distilled to nothing has no ratio; it still counts in the totals.
    ratios = [v / d for v, d in zip(verbatim, distilled, strict=True) if d > 0]
    return {
        "exchanges": len(verbatim),
        "verbatim_tokens": _spread(verbatim),
        "distilled_tokens": _spread(distilled),
        "ratio": _spread(ratios) if ratios else None,
        "ratios": ratios,
        "without_distilled_tokens": len(verbatim) - len(ratios),
        "total_ratio": sum(verbatim) / sum(distilled) if sum(distilled) > 0 else None,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "p90": float(np.percentile(values, 90)),
        "total": sum(values),
    }


def judgments_summary(runs_dir: Path) -> dict[str, Any]:
    """Which qrels files there are and what they hold; LLM graders' agreement if any."""
    files: dict[str, Any] = {}
    for name in QRELS_FILES:
        if (runs_dir / name).is_file():
            qrels = read_qrels(runs_dir / name)
            grades = Counter(str(g) for docs in qrels.values() for g in docs.values())
            files[name] = {"queries": len(qrels), "judgments": grades.total(),
                           "grades": dict(sorted(grades.items()))}  # fmt: skip
    grades_json = read_json(runs_dir / "grades.json")
    llm = None
    if isinstance(grades_json, dict):
        llm = {k: grades_json[k] for k in ("graders", "agreement") if k in grades_json}
    return {"used": "qrels.txt", "files": files, "llm": llm}


# --- reading the runs folder -----------------------------------------------------------


def load_runs_folder(runs_dir: Path) -> RunsFolder:
    if not runs_dir.is_dir():
        raise ConfigError(
            f"{runs_dir} is not a folder; pass the --runs-out folder of `memdistill eval run`"
        )
    qrels_path = runs_dir / "qrels.txt"
    if not qrels_path.is_file():
        raise ConfigError(
            f"{qrels_path} is missing; run `memdistill eval run --runs-out {runs_dir}` first, "
            "or put the judgments there as TREC qrels (qid 0 docid grade)"
        )
    trec_files = sorted((runs_dir / "runs").glob("*.trec"))
    if not trec_files:
        raise ConfigError(
            f"no runs/*.trec files in {runs_dir}; run `memdistill eval run --runs-out "
            f"{runs_dir}` first"
        )
    qrels = read_qrels(qrels_path)
    runs = {path.name.removesuffix(".trec"): read_run(path) for path in trec_files}
    notes: list[str] = []
    queries_path = runs_dir / "queries.jsonl"
    if queries_path.is_file():
        queries = read_queries(queries_path)
    else:
        # Other tools may bring only qrels and runs: every judged query, untyped.
        queries = {q: QueryInfo(q) for q in qrels}
        notes.append("no queries.jsonl: the judged queries of qrels.txt, without types")
    unknown = sorted(set(qrels) - set(queries))
    if unknown:
        notes.append(f"qrels.txt judges queries not in queries.jsonl, ignored: {unknown[:5]}")
    return RunsFolder(runs_dir, queries, qrels, runs, notes)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """TREC qrels: `qid iteration docid grade`."""
    qrels: dict[str, dict[str, int]] = {}
    for number, fields in split_lines(path):
        if len(fields) != 4:
            raise bad_line(path, number, "expected 4 fields `qid 0 docid grade`")
        try:
            grade = int(fields[3])
        except ValueError:
            raise bad_line(path, number, f"grade {fields[3]!r} is not an integer") from None
        qrels.setdefault(fields[0], {})[fields[2]] = grade
    return qrels


def read_run(path: Path) -> Run:
    """TREC run: `qid Q0 docid rank score tag`, returned in rank order per query."""
    run: Run = {}
    seen: set[tuple[str, str]] = set()
    for number, fields in split_lines(path):
        if len(fields) != 6:
            raise bad_line(path, number, "expected 6 fields `qid Q0 docid rank score tag`")
        qid, _, docid, rank_text, score_text, _ = fields
        try:
            rank, score = int(rank_text), float(score_text)
        except ValueError:
            raise bad_line(path, number, "rank must be an integer and score a number") from None
        if (qid, docid) in seen:
            raise bad_line(path, number, f"{docid} is ranked twice for query {qid}")
        seen.add((qid, docid))
        run.setdefault(qid, []).append(Ranked(docid, rank, score))
    for ranked in run.values():
        ranked.sort(key=lambda doc: doc.rank)  # stable: file order breaks equal ranks
    return run


def read_queries(path: Path) -> dict[str, QueryInfo]:
    queries: dict[str, QueryInfo] = {}
    for number, record in read_jsonl(path):
        qid = record.get("qid")
        if not isinstance(qid, str | int) or str(qid) == "":
            raise bad_line(path, number, "a query needs a `qid`")
        category = record.get("category")
        queries[str(qid)] = QueryInfo(
            qid=str(qid),
            query=str(record.get("query") or ""),
            type=_str_or_none(record.get("type")),
            absent=bool(record.get("absent")) or record.get("relevant") == {},
            category=None if category is None else str(category),
        )
    return queries


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
