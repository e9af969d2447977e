"""eval/report.py: the files it writes, their keys, and the optional inputs it can lack."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_eval_metrics import A, B, C, write_runs_folder
from typer.testing import CliRunner

from memdistill.cli import app
from memdistill.errors import ConfigError, DependencyError, FormatError
from memdistill.eval.report import build_report

PNG = b"\x89PNG\r\n\x1a\n"
KEYS = {
    "runs_dir", "min_grade", "measures", "queries", "configurations", "baseline",
    "comparisons", "goals", "by_type", "by_category", "absent", "compression",
    "judgments", "commands", "per_query", "notes", "files",
}  # fmt: skip


def test_full_report(tmp_path: Path) -> None:
    runs = write_runs_folder(tmp_path / "runs-out")
    (runs / "grades.json").write_text(
        json.dumps({"graders": ["m1", "m2"], "agreement": {"fleiss_kappa": 0.61}, "pairs": []})
    )
    out = tmp_path / "report"
    results = build_report(runs, out)

    for name in ("mrr.png", "layers.png", "compression.png"):
        assert (out / name).read_bytes()[:8] == PNG, name
    saved = json.loads((out / "results.json").read_text())
    assert set(saved) == KEYS
    assert saved["files"]["plots"] == ["mrr.png", "layers.png", "compression.png"]
    assert saved["baseline"] == {"name": A, "why": "the best verbatim configuration by MRR@10"}

    rows = saved["configurations"]
    assert [r["name"] for r in rows] == [C, B, A]  # by MRR@10: .875, .625, .4167
    assert rows[0]["metrics"]["MRR@10"] == pytest.approx(0.875)
    assert rows[0]["mrr_ci"]["high"] == 1.0
    assert rows[0]["fusion"] == "combmnz" and rows[2]["fusion"] is None
    # latency 10..50 ms: p50 = 30; p95 at position 3.8 of 4 -> 40 + 0.8 * 10. Only the
    # old field (the search at the run depth, k not recorded here) is in these runs.
    assert rows[0]["latency_ms"] == {"p50": 30.0, "p95": pytest.approx(48.0), "n": 5, "k": None}

    comparisons = {c["config"]: c for c in saved["comparisons"]}
    assert set(comparisons) == {B, C}
    assert comparisons[C]["ratio"] == pytest.approx(2.1)

    goals = saved["goals"]
    assert goals["best_verbatim"] == {"config": A, "mrr": pytest.approx(5 / 12)}
    assert [(g["config"], g["meets"]) for g in goals["distilled_vector"]] == [(B, True)]
    assert [(g["config"], g["meets"]) for g in goals["default_cross_layer"]] == [(C, True)]

    # compression rows (100, 10), (50, 10), (30, 0): ratios 10 and 5, one without;
    # total 180 / 20 = 9; verbatim mean 60, median 50, p90 50 + 0.8 * 50 = 90
    comp = saved["compression"]
    assert comp["total_ratio"] == pytest.approx(9.0)
    assert comp["ratios"] == [10.0, 5.0] and comp["without_distilled_tokens"] == 1
    assert comp["verbatim_tokens"]["mean"] == pytest.approx(60.0)
    assert comp["verbatim_tokens"]["p90"] == pytest.approx(90.0)

    assert saved["absent"]["queries"] == {"q4": {"configs_with_hits": 2}}
    assert saved["judgments"]["files"]["qrels.txt"] == {
        "queries": 4, "judgments": 7, "grades": {"0": 1, "1": 3, "2": 3}
    }  # fmt: skip
    assert saved["judgments"]["llm"]["agreement"] == {"fleiss_kappa": 0.61}
    assert saved["commands"] == [
        "memdistill eval run --corpus c.jsonl --queries q.jsonl --runs-out runs"
    ]
    assert saved["per_query"][A]["MRR@10"]["q5"] == 0.0
    assert results["configurations"][0]["name"] == C

    md = (out / "report.md").read_text()
    for heading in ("## Configurations", "## Against the baseline", "## Goals",
                    "## By query type", "## Absent queries", "## Compression",
                    "## Judgments", "## Commands", "![mrr.png](mrr.png)"):  # fmt: skip
        assert heading in md, heading
    assert f"| {C} | 0.875 | 0.477–1.000 |" in md
    assert "fleiss_kappa" in md
    assert "Latency of every configuration: no `latency_ms_k10` recorded" in md
    assert "No LoCoMo categories" in md


def test_min_grade_and_explicit_baseline(tmp_path: Path) -> None:
    runs = write_runs_folder(tmp_path / "runs-out")
    saved = build_report(runs, tmp_path / "out", baseline=C, min_grade=2)
    assert saved["baseline"]["name"] == C
    assert saved["queries"]["no_relevant"] == ["q2", "q5"]
    mrr = {r["name"]: r["metrics"]["MRR@10"] for r in saved["configurations"]}
    assert mrr == {A: pytest.approx(0.25), B: pytest.approx(1.0), C: pytest.approx(0.75)}
    ratio = {c["config"]: c["ratio"] for c in saved["comparisons"]}
    assert ratio == {A: pytest.approx(0.25 / 0.75), B: pytest.approx(1 / 0.75)}
    with pytest.raises(ConfigError, match="unknown baseline"):
        build_report(runs, tmp_path / "out", baseline="verbatim-nope")


def test_survives_missing_optional_files(tmp_path: Path) -> None:
    runs = write_runs_folder(tmp_path / "runs-out", optional=False)
    (runs / "queries.jsonl").unlink()
    out = tmp_path / "out"
    saved = build_report(runs, out)
    assert saved["compression"] is None and saved["commands"] == []
    assert saved["judgments"]["llm"] is None
    assert all(r["latency_ms"] is None for r in saved["configurations"])
    assert saved["files"]["plots"] == ["mrr.png", "layers.png"]
    assert not (out / "compression.png").exists()
    # Without queries.jsonl every judged query counts, untyped; q4 is unknown.
    assert saved["queries"]["scored"] == ["q1", "q2", "q3", "q5"]
    md = (out / "report.md").read_text()
    for line in ("No compression.jsonl", "No latency recorded", "records no command",
                 "No LLM grader agreement", "No compression.png", "no queries.jsonl"):  # fmt: skip
        assert line in md, line


def test_only_distilled_and_broken_optional_file(tmp_path: Path) -> None:
    runs = write_runs_folder(tmp_path / "runs-out", optional=False)
    (runs / "runs" / f"{A}.trec").unlink()
    (runs / "runs" / f"{C}.trec").unlink()
    saved = build_report(runs, tmp_path / "out")
    assert saved["baseline"]["name"] == B  # no verbatim run: the best one, said so
    assert "no verbatim-only" in saved["baseline"]["why"]
    assert saved["comparisons"] == [] and saved["goals"] == {"best_verbatim": None}
    (runs / "compression.jsonl").write_text('{"docid": "e1", "verbatim_tokens": 5}\n')
    with pytest.raises(FormatError, match=r"compression\.jsonl:1: needs numbers"):
        build_report(runs, tmp_path / "out")


def test_nothing_to_score(tmp_path: Path) -> None:
    runs = write_runs_folder(tmp_path / "runs-out", optional=False)
    (runs / "qrels.txt").write_text("")
    (runs / "queries.jsonl").write_text('{"qid": "q4", "query": "x", "absent": true}\n')
    saved = build_report(runs, tmp_path / "out")
    assert saved["queries"]["scored"] == [] and saved["queries"]["absent"] == ["q4"]
    assert all(r["metrics"]["MRR@10"] == 0.0 for r in saved["configurations"])
    assert "no query has a relevant exchange" in (tmp_path / "out" / "report.md").read_text()


def test_latency_columns_use_the_search_at_k10(tmp_path: Path) -> None:
    runs = write_runs_folder(tmp_path / "runs-out")
    for name in (A, B, C):
        path = runs / "runs" / f"{name}.json"
        meta = json.loads(path.read_text())
        k10 = {qid: ms / 10 for qid, ms in meta["latency_ms"].items()}  # 1..5 ms
        path.write_text(json.dumps({**meta, "k": 100, "latency_ms_k10": k10}))
    saved = build_report(runs, tmp_path / "out")
    assert saved["configurations"][0]["latency_ms"] == {
        "p50": 3.0, "p95": pytest.approx(4.8), "n": 5, "k": 10
    }  # fmt: skip
    md = (tmp_path / "out" / "report.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith(f"| {C} | 0.875 |"))
    assert row.endswith(" | 3.0 | 4.8 |")  # p50, p95
    assert "search at k=10, query embedding included" in md
    assert "no `latency_ms_k10`" not in md


@pytest.mark.parametrize(("module", "package"), [
    ("ir_measures", "ir-measures"), ("scipy", "scipy"), ("matplotlib", "matplotlib"),
])  # fmt: skip
def test_missing_eval_extra_is_a_dependency_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, package: str
) -> None:
    runs = write_runs_folder(tmp_path / "runs-out")
    # None in sys.modules makes `import module` fail as if the package were not installed:
    # it cannot really be uninstalled in CI, where every other test needs it.
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DependencyError, match=rf"{package}.*pip install 'memdistill\[eval\]'"):
        build_report(runs, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # it failed before doing any work
    result = CliRunner().invoke(
        app, ["eval", "report", "--runs-out", str(runs), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1 and result.output.startswith("error: "), result.output
    assert package in result.output and "memdistill[eval]" in result.output


def test_the_eval_modules_import_without_the_eval_extra() -> None:
    # A fresh interpreter in which the extra's packages are missing (see above).
    blocked = ["ir_measures", "pytrec_eval", "scipy", "matplotlib", "krippendorff"]
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "import memdistill.eval.report, memdistill.eval.runs, memdistill.cli.evaluate\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
