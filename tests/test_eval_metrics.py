"""eval/metrics.py and eval/stats.py against numbers worked out by hand.

The runs folder below is small enough to score on paper; every expected value carries its
arithmetic. nDCG is trec_eval's: gain = grade, discount 1/log2(rank + 1).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from scipy import stats as sps

from memdistill.errors import ConfigError, FormatError
from memdistill.eval.metrics import absent_summary, evaluate, load_runs_folder, run_latency
from memdistill.eval.stats import (
    best_verbatim,
    bonferroni,
    choose_baseline,
    cohens_d,
    compare_all,
    is_cross_layer,
    is_verbatim,
    layers,
    paired_test,
    t_interval,
)
from memdistill.retrieve.modes import MODES, layers_of

L3 = math.log2(3)  # discount at rank 2
QRELS = """\
q1 0 d1 2
q1 0 d2 1
q1 0 d9 0
q2 0 d3 1
q3 0 d4 2
q3 0 d5 2
q5 0 d6 1
"""
QUERIES = [
    {"qid": "q1", "query": "one", "type": "error", "absent": False, "category": None},
    {"qid": "q2", "query": "two", "type": "decision", "absent": False, "category": None},
    {"qid": "q3", "query": "three", "type": "error", "absent": False, "category": None},
    {"qid": "q4", "query": "nothing", "type": "absent", "absent": True, "category": None},
    {"qid": "q5", "query": "five", "type": "decision", "absent": False, "category": None},
]
A, B, C = "verbatim-bm25", "distilled-vector", "verbatim-bm25+distilled-vector.combmnz"
RUNS = {
    # q5 missing: scores 0 and still counts.
    A: {"q1": ["d9", "d2", "d1"], "q2": ["d3"], "q3": ["x1", "x2", "x3", "x4", "x5", "d4"],
        "q4": ["d7"]},
    # q2 and q4 missing.
    B: {"q1": ["d1"], "q3": ["d5", "d4"], "q5": ["d8", "d6"]},
    C: {"q1": ["d2", "d1"], "q2": ["x1", "d3"], "q3": ["d4"], "q4": ["d7"], "q5": ["d6"]},
}  # fmt: skip
TOP_SCORE = {A: 5.0, B: 1.0, C: 0.03}


def write_runs_folder(root: Path, *, optional: bool = True) -> Path:
    """The hand-scored runs folder; `optional=False` leaves out every optional file."""
    (root / "runs").mkdir(parents=True)
    (root / "qrels.txt").write_text(QRELS)
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in QUERIES))
    for name, run in RUNS.items():
        lines = [
            f"{qid} Q0 {doc} {rank} {TOP_SCORE[name] / rank:.6f} {name}\n"
            for qid, docs in run.items()
            for rank, doc in enumerate(docs, 1)
        ]
        (root / "runs" / f"{name}.trec").write_text("".join(lines))
        if optional:
            latency = {"q1": 10, "q2": 20, "q3": 30, "q4": 40, "q5": 50}
            mode, _, fusion = name.partition(".")
            meta = {"name": name, "mode": mode, "fusion": fusion or None, "latency_ms": latency}
            (root / "runs" / f"{name}.json").write_text(json.dumps(meta))
    if optional:
        command = "memdistill eval run --corpus c.jsonl --queries q.jsonl --runs-out runs"
        (root / "config.json").write_text(json.dumps({"command": command}))
        rows = [(100, 10), (50, 10), (30, 0)]
        (root / "compression.jsonl").write_text(
            "".join(
                json.dumps({"docid": f"e{i}", "verbatim_tokens": v, "distilled_tokens": d}) + "\n"
                for i, (v, d) in enumerate(rows)
            )
        )
        (root / "qrels-labels.txt").write_text(QRELS)
    return root


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return write_runs_folder(tmp_path / "runs-out")


def test_hand_computed_metrics(runs: Path) -> None:
    ev = evaluate(load_runs_folder(runs))
    assert ev.scored == ["q1", "q2", "q3", "q5"]  # q4 is absent
    assert ev.absent == ["q4"]
    mean = ev.overall()
    # MRR@10, first doc with grade >= 1:
    # A: q1 d2@2 = 1/2, q2 d3@1 = 1, q3 d4@6 = 1/6, q5 not returned = 0 -> 5/3 / 4
    assert mean[A]["MRR@10"] == pytest.approx((0.5 + 1 + 1 / 6 + 0) / 4)
    # B: q1 1, q2 not returned 0, q3 1, q5 d6@2 1/2 -> 2.5 / 4
    assert mean[B]["MRR@10"] == pytest.approx(0.625)
    # C: q1 1, q2 1/2, q3 1, q5 1 -> 3.5 / 4
    assert mean[C]["MRR@10"] == pytest.approx(0.875)
    # Recall@5 -- A: q1 2/2, q2 1/1, q3 d4 is at 6 so 0/2, q5 0 -> 2/4
    assert mean[A]["Recall@5"] == pytest.approx(0.5)
    # B: q1 1/2, q2 0, q3 2/2, q5 1/1 -> 2.5/4; C: 1, 1, 1/2, 1 -> 3.5/4
    assert mean[B]["Recall@5"] == pytest.approx(0.625)
    assert mean[C]["Recall@5"] == pytest.approx(0.875)
    # Recall@10 -- A: q3 now finds d4 -> (1 + 1 + 1/2 + 0) / 4
    assert mean[A]["Recall@10"] == pytest.approx(0.625)
    # P@5 -- A: q1 2/5, q2 1/5, q3 0, q5 0 -> 0.6 / 4
    assert mean[A]["P@5"] == pytest.approx(0.15)
    # nDCG@10 -- A:
    #   q1 d9(0) d2(1) d1(2): DCG = 1/log2(3) + 2/log2(4); IDCG = 2 + 1/log2(3)
    #   q2 d3@1: 1;  q3 d4(2)@6: DCG = 2/log2(7), IDCG = 2 + 2/log2(3);  q5: 0
    a_q1 = (1 / L3 + 1) / (2 + 1 / L3)  # 0.6199
    a_q3 = (2 / math.log2(7)) / (2 + 2 / L3)  # 0.2184
    assert ev.per_query[A]["nDCG@10"]["q1"] == pytest.approx(a_q1)
    assert mean[A]["nDCG@10"] == pytest.approx((a_q1 + 1 + a_q3 + 0) / 4)
    # B: q1 d1(2)@1: 2 / (2 + 1/log2(3)); q2 0; q3 ideal order: 1; q5 d6(1)@2: 1/log2(3)
    b = (2 / (2 + 1 / L3) + 0 + 1 + 1 / L3) / 4
    assert mean[B]["nDCG@10"] == pytest.approx(b)


def test_missing_query_scores_zero_and_counts(runs: Path) -> None:
    ev = evaluate(load_runs_folder(runs))
    # pytrec_eval alone would skip q5 for A (and q2 for B) and average over 3 queries.
    assert ev.per_query[A]["MRR@10"]["q5"] == 0.0
    assert ev.per_query[B]["MRR@10"]["q2"] == 0.0
    assert set(ev.per_query[A]["MRR@10"]) == {"q1", "q2", "q3", "q5"}
    assert ev.mean(A, "MRR@10") != pytest.approx((0.5 + 1 + 1 / 6) / 3)


def test_absent_queries_are_apart(runs: Path) -> None:
    folder = load_runs_folder(runs)
    ev = evaluate(folder)
    assert "q4" not in ev.per_query[A]["MRR@10"]
    summary = absent_summary(folder, ev.absent)
    assert summary["n"] == 1
    assert summary["queries"] == {"q4": {"configs_with_hits": 2}}  # A and C returned d7
    assert summary["configs"][A] == {"queries_with_hits": 1, "mean_top_score": 5.0}
    assert summary["configs"][B] == {"queries_with_hits": 0, "mean_top_score": None}
    assert summary["configs"][C]["mean_top_score"] == pytest.approx(0.03)


def test_min_grade_2(runs: Path) -> None:
    ev = evaluate(load_runs_folder(runs), min_grade=2)
    # q2 and q5 have only grade-1 exchanges: nothing to find at grade >= 2.
    assert ev.scored == ["q1", "q3"]
    assert ev.no_relevant == ["q2", "q5"]
    mean = ev.overall()
    # A: q1 first grade-2 doc d1@3 = 1/3, q3 d4@6 = 1/6 -> 0.25
    assert mean[A]["MRR@10"] == pytest.approx(0.25)
    # A Recall@5: q1 {d1} found 1, q3 0 -> 0.5; P@5: q1 1/5, q3 0 -> 0.1
    assert mean[A]["Recall@5"] == pytest.approx(0.5)
    assert mean[A]["P@5"] == pytest.approx(0.1)
    # B: q1 d1@1, q3 d5@1 -> 1; C: q1 d1@2 = 1/2, q3 1 -> 0.75
    assert mean[B]["MRR@10"] == pytest.approx(1.0)
    assert mean[C]["MRR@10"] == pytest.approx(0.75)
    # nDCG keeps the grades as gains: same per-query values, mean over q1 and q3.
    a_q1 = (1 / L3 + 1) / (2 + 1 / L3)
    a_q3 = (2 / math.log2(7)) / (2 + 2 / L3)
    assert mean[A]["nDCG@10"] == pytest.approx((a_q1 + a_q3) / 2)


def test_by_type(runs: Path) -> None:
    by_type = evaluate(load_runs_folder(runs)).by_type()
    assert set(by_type) == {"error", "decision"}  # absent q4 is not a quality group
    assert by_type["error"]["n"] == 2
    # A error: q1 1/2, q3 1/6; decision: q2 1, q5 0
    assert by_type["error"]["metrics"][A]["MRR@10"] == pytest.approx((0.5 + 1 / 6) / 2)
    assert by_type["decision"]["metrics"][A]["MRR@10"] == pytest.approx(0.5)
    assert by_type["decision"]["metrics"][C]["MRR@10"] == pytest.approx(0.75)


def test_locomo_category_5_apart(tmp_path: Path) -> None:
    root = write_runs_folder(tmp_path / "r", optional=False)
    queries = [dict(q, category={"q1": "1", "q2": "5", "q3": "1", "q5": "4"}.get(q["qid"]))
               for q in QUERIES]  # fmt: skip
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    ev = evaluate(load_runs_folder(root))
    assert ev.scored == ["q1", "q3", "q5"]
    assert ev.adversarial == ["q2"]
    # C overall without q2: (1 + 1 + 1) / 3
    assert ev.overall()[C]["MRR@10"] == pytest.approx(1.0)
    by_category = ev.by_category()
    assert {c: g["n"] for c, g in by_category.items()} == {"1": 2, "4": 1, "5": 1}
    assert by_category["5"]["metrics"][C]["MRR@10"] == pytest.approx(0.5)


def test_rank_column_decides_ties(tmp_path: Path) -> None:
    root = write_runs_folder(tmp_path / "r", optional=False)
    # Equal scores: trec_eval alone would put "zz" first (ties go by docid, descending).
    (root / "qrels.txt").write_text("q1 0 zz 1\n")
    (root / "runs" / f"{A}.trec").write_text("q1 Q0 aa 1 1.0 t\nq1 Q0 zz 2 1.0 t\n")
    ev = evaluate(load_runs_folder(root))
    assert ev.per_query[A]["MRR@10"]["q1"] == pytest.approx(0.5)


def test_errors_say_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"qrels\.txt is missing"):
        load_runs_folder(tmp_path)
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    (tmp_path / "runs").mkdir()
    with pytest.raises(ConfigError, match=r"no runs/\*\.trec"):
        load_runs_folder(tmp_path)
    (tmp_path / "runs" / "verbatim-bm25.trec").write_text("q1 Q0 d1 1 1.0 t\nq1 Q0 d2 2\n")
    with pytest.raises(FormatError, match=r"verbatim-bm25\.trec:2: expected 6 fields"):
        load_runs_folder(tmp_path)
    (tmp_path / "runs" / "verbatim-bm25.trec").write_text("q1 Q0 d1 one 1.0 t\n")
    with pytest.raises(FormatError, match=r"\.trec:1: rank must be an integer"):
        load_runs_folder(tmp_path)
    (tmp_path / "runs" / "verbatim-bm25.trec").write_text("q1 Q0 d1 1 1.0 t\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\nq1 0 d2 high\n")
    with pytest.raises(FormatError, match=r"qrels\.txt:2: grade 'high'"):
        load_runs_folder(tmp_path)
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    (tmp_path / "queries.jsonl").write_text('{"qid": "q1"}\n{oops\n')
    with pytest.raises(FormatError, match=r"queries\.jsonl:2: not JSON"):
        load_runs_folder(tmp_path)


# --- statistics ------------------------------------------------------------------------


def test_tiny_paired_case_by_hand() -> None:
    # differences 1, 2, 3: mean 2, sd 1 -> d = 2, t = 2 / (1 / sqrt 3) = 2 sqrt 3, df 2;
    # for df 2 the two-sided p is 1 - t / sqrt(2 + t^2) = 1 - sqrt(12 / 14).
    test = paired_test([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert test.mean_diff == pytest.approx(2.0)
    assert test.cohens_d == pytest.approx(2.0)
    assert test.t_stat == pytest.approx(2 * math.sqrt(3))
    assert test.p_t == pytest.approx(1 - math.sqrt(12 / 14))
    # Wilcoxon: every difference positive, W = min(6, 0) = 0; exact p = 2 * (1/8).
    assert test.w_stat == 0.0
    assert test.p_wilcoxon == pytest.approx(0.25)


def test_wilcoxon_zsplit_by_hand() -> None:
    # diffs 0, 1, -2, 3: ranks of |d| 1, 2, 3, 4; the zero's rank splits in half:
    # R+ = 2 + 4 + 0.5 = 6.5, R- = 3 + 0.5 = 3.5 -> W = 3.5.
    test = paired_test([0.0, 1.0, -2.0, 3.0], [0.0] * 4)
    assert test.w_stat == pytest.approx(3.5)
    expected = sps.wilcoxon([0.0, 1.0, -2.0, 3.0], zero_method="zsplit")
    assert test.p_wilcoxon == pytest.approx(float(expected.pvalue))


def test_degenerate_differences() -> None:
    same = paired_test([0.5, 1.0, 0.0], [0.5, 1.0, 0.0])
    # Nothing differs: t = 0, p = 1; zsplit W = n(n+1)/4 = 3, p = 1; d = 0.
    assert (same.t_stat, same.p_t, same.w_stat, same.p_wilcoxon, same.cohens_d) == (
        0.0, 1.0, 3.0, 1.0, 0.0,
    )  # fmt: skip
    shifted = paired_test([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])  # constant shift, sd 0
    assert shifted.cohens_d == math.inf and shifted.p_t == 0.0
    assert cohens_d([-0.25, -0.25]) == -math.inf
    assert cohens_d([]) == 0.0
    single = paired_test([1.0], [0.0])
    assert single.p_t is None and single.p_wilcoxon is None


def test_comparisons_match_scipy(runs: Path) -> None:
    ev = evaluate(load_runs_folder(runs))
    mrr = {c: v["MRR@10"] for c, v in ev.per_query.items()}
    base, _ = choose_baseline({c: ev.mean(c, "MRR@10") for c in mrr})
    assert base == A  # C is better, but not verbatim-only
    comparisons = {c.config: c for c in compare_all(mrr, ev.scored, base)}
    a = [0.5, 1.0, 1 / 6, 0.0]  # per-query MRR over q1, q2, q3, q5 (hand, above)
    c = [1.0, 0.5, 1.0, 1.0]
    diffs = [x - y for x, y in zip(c, a, strict=True)]  # 0.5, -0.5, 5/6, 1
    vs_c = comparisons[C]
    assert vs_c.test.mean_diff == pytest.approx(sum(diffs) / 4)  # 1.8333 / 4
    t = sps.ttest_rel(c, a)
    w = sps.wilcoxon(diffs, zero_method="zsplit")
    assert vs_c.test.t_stat == pytest.approx(float(t.statistic))
    assert vs_c.test.p_t == pytest.approx(float(t.pvalue))
    assert vs_c.test.p_wilcoxon == pytest.approx(float(w.pvalue))
    # Bonferroni over 2 comparisons (B and C against A).
    assert vs_c.p_t_bonferroni == pytest.approx(min(1.0, 2 * float(t.pvalue)))
    assert vs_c.p_wilcoxon_bonferroni == pytest.approx(min(1.0, 2 * float(w.pvalue)))
    # d_z: deviations from 0.458333 are .041667 -.958333 .375 .541667; sum of squares
    # 1.3541667, / 3 -> sd 0.671855; d = 0.458333 / 0.671855
    assert vs_c.test.cohens_d == pytest.approx(0.682191, rel=1e-5)
    assert vs_c.test.t_stat == pytest.approx(0.682191 * 2, rel=1e-5)  # t = d sqrt(n)
    assert vs_c.ratio == pytest.approx(0.875 / (5 / 12))  # 2.1
    assert comparisons[B].ratio == pytest.approx(0.625 / (5 / 12))  # 1.5


def test_bonferroni_and_interval() -> None:
    assert bonferroni([0.01, 0.4, None]) == [0.03, 1.0, None]
    assert bonferroni([0.01], m=5) == [0.05]
    # C's MRR values 1, .5, 1, 1: mean .875, sd .25, se .125, t(.975, 3) = 3.182446
    interval = t_interval([1.0, 0.5, 1.0, 1.0])
    assert interval.mean == pytest.approx(0.875)
    assert interval.low == pytest.approx(0.875 - 3.182446 * 0.125, rel=1e-6)
    assert interval.high == 1.0  # 1.273 clipped
    assert t_interval([0.4]).low == 0.4


def test_baseline_rules() -> None:
    mrr = {"verbatim-bm25": 0.4, "verbatim-vector": 0.5, "all.rrf": 0.9,
           "verbatim-bm25+verbatim-vector.rrf": 0.45, "distilled-vector": 0.6}  # fmt: skip
    assert choose_baseline(mrr)[0] == "verbatim-vector"
    assert choose_baseline(mrr, "all.rrf") == ("all.rrf", "chosen explicitly")
    with pytest.raises(ConfigError, match="unknown baseline"):
        choose_baseline(mrr, "nope")
    assert choose_baseline({"distilled-vector": 0.6, "all.rrf": 0.7})[0] == "all.rrf"
    assert is_verbatim("verbatim-bm25+verbatim-vector.rrf")
    assert not is_verbatim("all.rrf") and not is_verbatim("distilled-hybrid.rrf")
    assert is_cross_layer("all.combmnz") and is_cross_layer("verbatim-vector+distilled-bm25.x")
    assert not is_cross_layer("distilled-hybrid.rrf")


def test_layers_come_from_the_retriever_modes() -> None:
    for mode in MODES:
        assert layers(f"{mode}.rrf") == layers_of(mode)
    # Runs other tools put in the folder: no layers, so neither verbatim nor cross-layer.
    assert layers("bm25-run.trec-tool") == ()
    assert not is_verbatim("bm25-run") and not is_cross_layer("bm25-run")


def test_one_rule_for_the_best_verbatim_configuration() -> None:
    mrr = {"verbatim-vector": 0.5, "verbatim-bm25": 0.5, "all.rrf": 0.9}
    assert best_verbatim(mrr) == "verbatim-bm25"  # a tie goes to the first name
    assert choose_baseline(mrr)[0] == best_verbatim(mrr)
    assert best_verbatim({"all.rrf": 0.9, "other-tool": 1.0}) is None


def test_latency_prefers_the_search_at_k10() -> None:
    depth = {"q1": 30.0, "q2": 50.0}
    k10 = {"q1": 2.0, "q2": 4.0}
    both = run_latency({"k": 100, "latency_ms": depth, "latency_ms_k10": k10})
    assert both == {"p50": 3.0, "p95": pytest.approx(3.9), "n": 2, "k": 10}
    # Older runs folders: the search at the run's depth, said so by k.
    assert run_latency({"k": 100, "latency_ms": depth}) == {
        "p50": 40.0, "p95": pytest.approx(49.0), "n": 2, "k": 100
    }  # fmt: skip
    assert run_latency({"latency_ms": depth})["k"] is None  # type: ignore[index]
    assert run_latency({"latency_ms_k10": {}}) is None
