"""Refinement's effect on retrieval (issue 5): how many memories each rule touched, how
much the indexes shrank, and MRR@10 before and after, with the evaluation harness.

    python benchmarks/bench_refine.py                                  # LoCoMo dev
    python benchmarks/bench_refine.py --corpus data/samples --queries data/queries.jsonl
    python benchmarks/bench_refine.py --merge-similarity 0.85          # a harsher setting

Protocol. Pruning needs usage, and no corpus ships any, so usage is simulated and the
simulation is kept apart from the measurement: the labelled queries are split in two
halves by a hash of their id. The *usage* half is searched through `Memory.search` (every
hit counts as served, k=10), and every hit that holds an evidence message gets useful
feedback, as an agent reporting what helped would give. Then `Memory.refine` runs with the
settings given. The *held-out* half is evaluated by `memdistill eval`'s `run_eval` on the
same store before and after; the paired t-test and Wilcoxon test on per-query MRR@10 say
whether the difference is beyond noise.

LoCoMo holds no repeated talk, so `--duplicate-sessions 0.3` copies that share of each
conversation's sessions, verbatim, as new sessions dated after the last one (the same
talk had twice): real text, real duplicates. The copies keep their turn ids, so the
labels name both copies of an evidence turn and the harness scores either as relevant.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from memdistill.api import Memory  # noqa: E402
from memdistill.eval.datasets import Query, is_locomo, load_queries, locomo_queries  # noqa: E402
from memdistill.eval.metrics import evaluate, load_runs_folder  # noqa: E402
from memdistill.eval.runs import grid, run_eval  # noqa: E402
from memdistill.eval.stats import paired_test  # noqa: E402
from memdistill.refine import RefineSettings  # noqa: E402
from memdistill.retrieve.modes import DEFAULT_MODE  # noqa: E402

LOCOMO = REPO.parent / "shared" / "data" / "locomo-dev.json"
MODES = (DEFAULT_MODE, "verbatim-bm25", "distilled-vector")
DEFAULTS = RefineSettings()


def held_out(qid: str) -> bool:
    return hashlib.sha256(qid.encode()).digest()[0] % 2 == 0


def queries_of(corpus: list[Path], queries: Path | None) -> list[Query]:
    if queries is not None:
        return load_queries(queries)
    found = [q for path in corpus if is_locomo(path) for q in locomo_queries(path)[0]]
    if not found:
        sys.exit("no queries: pass --queries, or a LoCoMo file as --corpus")
    return found


def simulate_usage(memory: Memory, queries: list[Query], per_task: bool) -> tuple[int, int]:
    """Search each usage query and give verdicts: per task, every hit is useful when the
    search found evidence and not useful when it did not; per hit, the hits holding
    evidence are useful and the others not."""
    served = useful = 0
    for query in queries:
        hits = memory.search(query.query, k=10, project=query.project)
        served += len(hits)
        evidence = set(query.relevant or {})
        good = {h.exchange_id for h in hits if set(h.source_message_ids) & evidence}
        if per_task and good:
            good = {h.exchange_id for h in hits}
        bad = {h.exchange_id for h in hits} - good
        if good:
            useful += memory.feedback(good, useful=True)
        if bad:
            memory.feedback(bad, useful=False)
    return served, useful


def with_duplicate_sessions(path: Path, share: float, out: Path) -> Path:
    """A copy of a LoCoMo file where `share` of each conversation's sessions recur later."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(7)
    for sample in data:
        talk = sample["conversation"]
        numbers = sorted(int(k.split("_")[1]) for k in talk if re.fullmatch(r"session_\d+", k))
        last = max(numbers)
        date = talk.get(f"session_{last}_date_time")
        for number in sorted(rng.sample(numbers, round(share * len(numbers)))):
            last += 1
            talk[f"session_{last}"] = talk[f"session_{number}"]
            talk[f"session_{last}_date_time"] = date
    copy = out / f"{path.stem}-duplicated.json"
    copy.write_text(json.dumps(data), encoding="utf-8")
    return copy


def index_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def mrr(runs_out: Path) -> dict[str, dict[str, float]]:
    """config -> qid -> MRR@10, on the scored queries."""
    evaluation = evaluate(load_runs_folder(runs_out))
    return {
        config: {q: values["MRR@10"][q] for q in evaluation.scored}
        for config, values in evaluation.per_query.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, nargs="+", default=[LOCOMO])
    parser.add_argument("--queries", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here")
    parser.add_argument("--duplicate-sessions", type=float, default=0.0, metavar="SHARE")
    parser.add_argument("--feedback", choices=("per-task", "per-hit"), default="per-task")
    parser.add_argument("--min-freq", type=int, default=DEFAULTS.min_freq)
    parser.add_argument("--min-utility-ratio", type=float,
                        default=DEFAULTS.min_utility_ratio)  # fmt: skip
    parser.add_argument("--merge-similarity", type=float, default=DEFAULTS.merge_similarity)
    parser.add_argument("--supersede-similarity", type=float,
                        default=DEFAULTS.supersede_similarity)  # fmt: skip
    args = parser.parse_args()
    settings = RefineSettings(
        min_freq=args.min_freq, min_utility_ratio=args.min_utility_ratio,
        merge_similarity=args.merge_similarity, supersede_similarity=args.supersede_similarity,
    )  # fmt: skip
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-refine-"))
    out.mkdir(parents=True, exist_ok=True)
    store = out / "store"
    shutil.rmtree(store, ignore_errors=True)

    if args.duplicate_sessions:
        args.corpus = [with_duplicate_sessions(p, args.duplicate_sessions, out) if is_locomo(p)
                       else p for p in args.corpus]  # fmt: skip
    labelled = [q for q in queries_of(args.corpus, args.queries) if q.relevant]
    usage = [q for q in labelled if not held_out(q.qid)]
    evaluated = [q for q in queries_of(args.corpus, args.queries) if held_out(q.qid)]
    eval_queries = out / "queries-held-out.jsonl"
    eval_queries.write_text("".join(json.dumps(q.as_json()) + "\n" for q in evaluated))
    configs = grid(MODES, ("combmnz",))

    with Memory.open(store) as memory:
        memory.ingest(args.corpus)
    run_eval(args.corpus, out / "before", queries_path=eval_queries, configs=configs, store=store)
    with Memory.open(store) as memory:
        served, useful = simulate_usage(memory, usage, args.feedback == "per-task")
        memory.usage.flush()
        bytes_before = index_bytes(memory.indexes.folder)
        report = memory.refine(settings)
        bytes_after = index_bytes(memory.indexes.folder)
    run_eval(args.corpus, out / "after", queries_path=eval_queries, configs=configs, store=store)

    print(f"corpus: {', '.join(str(p) for p in args.corpus)}; settings: {settings}")
    print(f"queries: {len(usage)} for usage ({served} hits served, {useful} useful, "
          f"feedback {args.feedback}), "
          f"{len(evaluated)} held out")  # fmt: skip
    print(f"active memories: {report.active_before}; changed: {report.counts()}")
    print(f"indexed exchanges: {report.indexed_before} -> {report.indexed_after}; "
          f"index files: {bytes_before / 1e6:.2f} MB -> {bytes_after / 1e6:.2f} MB")  # fmt: skip
    before, after = mrr(out / "before"), mrr(out / "after")
    print("\n| configuration | queries | MRR@10 before | after | diff | p (t) | p (Wilcoxon) |")
    print("|---|---|---|---|---|---|---|")
    for config in before:
        qids = sorted(before[config])
        a = [after[config][q] for q in qids]
        b = [before[config][q] for q in qids]
        test = paired_test(a, b)
        print(f"| {config} | {test.n} | {sum(b) / len(b):.3f} | {sum(a) / len(a):.3f} | "
              f"{test.mean_diff:+.3f} | {_p(test.p_t)} | {_p(test.p_wilcoxon)} |")  # fmt: skip
    print(f"\nruns: {out}")


def _p(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
