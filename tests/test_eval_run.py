"""The evaluation harness end to end, through the real CLI: what CI runs on the project's
own sample corpus and query set (label grader), plus LLM graders against a real local
llama.cpp server, and LoCoMo when the shared samples are present."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from corpus import EXCHANGES, write_generic
from typer.testing import CliRunner

from memdistill.cli import app
from memdistill.retrieve.modes import MODES

if TYPE_CHECKING:
    from llm_server import LocalLLM

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "runs"
    invoke("eval", "run", "--corpus", str(REPO / "data" / "samples"),
           "--queries", str(REPO / "data" / "queries.jsonl"), "--runs-out", str(out),
           "--fusion", "rrf")  # fmt: skip
    return out


def test_runs_folder_follows_the_contract(runs: Path) -> None:
    for name in ("config.json", "queries.jsonl", "qrels.txt", "qrels-labels.txt",
                 "compression.jsonl", "notes.json"):  # fmt: skip
        assert (runs / name).is_file(), name
    names = sorted(p.name for p in (runs / "runs").glob("*.trec"))
    assert len(names) == len(MODES)
    assert "verbatim-bm25.trec" in names and "verbatim-bm25+distilled-vector.rrf.trec" in names
    queries = [json.loads(line) for line in (runs / "queries.jsonl").read_text().splitlines()]
    assert len(queries) == 40 and sum(q["absent"] for q in queries) == 3
    for line in (runs / "runs" / "verbatim-bm25.trec").read_text().splitlines()[:50]:
        _qid, q0, _docid, rank, score, tag = line.split()
        assert q0 == "Q0" and int(rank) >= 1 and float(score) > 0 and tag == "verbatim-bm25"
    ranks = [int(line.split()[3]) for line in (runs / "runs" / "all.rrf.trec").read_text()
             .splitlines() if line.startswith("q01 ")]  # fmt: skip
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) <= 100
    meta = json.loads((runs / "runs" / "all.rrf.json").read_text())
    assert meta["mode"] == "all" and meta["fusion"] == "rrf"
    assert set(meta["latency_ms"]) == {q["qid"] for q in queries}
    # Also the default search's latency: the same search at k=10 (runs stay at depth 100).
    assert set(meta["latency_ms_k10"]) == set(meta["latency_ms"]) and meta["k"] == 100
    assert all(ms > 0 for ms in meta["latency_ms_k10"].values())
    qrels = (runs / "qrels.txt").read_text().splitlines()
    assert all(line.split()[3] in ("1", "2") for line in qrels)
    assert {line.split()[0] for line in qrels} == {q["qid"] for q in queries if not q["absent"]}
    config = json.loads((runs / "config.json").read_text())
    assert config["queries_judged"] == 40 and config["embedder"]
    assert config["docids"] == "message"  # the samples' message ids are unique
    assert config["corpus"] == [str((REPO / "data" / "samples").resolve())]
    compression = (runs / "compression.jsonl").read_text().splitlines()
    assert len(compression) == 65


def test_evaluation_never_counts_as_usage(runs: Path) -> None:
    with sqlite3.connect(runs / "store" / "memdistill.db") as db:
        assert db.execute("SELECT SUM(freq), SUM(utility) FROM usage").fetchone() == (0, 0)


def test_report_structure(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    invoke("eval", "report", "--runs-out", str(runs), "--out", str(out))
    for name in ("report.md", "results.json", "mrr.png", "layers.png", "compression.png"):
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    assert len(results["configurations"]) == len(MODES)
    assert results["baseline"]["name"] in ("verbatim-bm25", "verbatim-vector")
    assert len(results["queries"]["scored"]) == 37 and len(results["queries"]["absent"]) == 3
    assert {c["latency_ms"]["k"] for c in results["configurations"]} == {10}
    report = (out / "report.md").read_text()
    for heading in ("MRR@10", "nDCG@10", "Recall@5", "Cohen", "Bonferroni", "compression",
                    "search at k=10, query embedding included"):  # fmt: skip
        assert heading.lower() in report.lower(), heading


def test_bad_input_is_one_line_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "run", "--corpus", str(REPO / "data" / "samples"),
                                 "--runs-out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 1 and "--queries" in result.output
    result = runner.invoke(app, ["eval", "report", "--runs-out", str(tmp_path / "nothing"),
                                 "--out", str(tmp_path / "r")])  # fmt: skip
    assert result.exit_code == 1 and result.output.startswith("error: ")
    result = runner.invoke(app, ["eval", "run", "--corpus", "x", "--runs-out", str(tmp_path),
                                 "--queries", "q", "--grader", "no-url"])  # fmt: skip
    assert result.exit_code == 1 and "MODEL@BASE_URL" in result.output


def test_llm_graders_judge_unlabelled_queries_once(tmp_path: Path, llm_server: LocalLLM) -> None:
    corpus = write_generic(tmp_path / "notes.jsonl", EXCHANGES[:3])
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"qid": "u1", "query": "database is locked"}\n'
        '{"qid": "l1", "query": "latin-1 csv", "relevant": {"m0-u": 2}}\n'
    )
    spec = f"{llm_server.model}@{llm_server.base_url}"
    args = ["eval", "run", "--corpus", str(corpus), "--queries", str(queries), "--mode",
            "verbatim-bm25", "--mode", "distilled-bm25", "--grader", spec, "--pool-depth", "2",
            "--grader-key-env", "NO_SUCH_KEY"]  # fmt: skip
    before = llm_server.chat_completions
    invoke(*args, "--runs-out", str(tmp_path / "runs"))
    calls = llm_server.chat_completions - before
    grades = json.loads((tmp_path / "runs" / "grades.json").read_text())
    assert calls >= 1 and len(grades["pairs"]) >= 1
    assert all(p["qid"] == "u1" for p in grades["pairs"])  # labelled queries are not graded
    assert grades["agreement"]["note"].startswith("one grader")
    for pair in grades["pairs"]:
        assert pair["grades"][spec] in (0, 1, 2, None)
    qrels = (tmp_path / "runs" / "qrels.txt").read_text()
    assert "l1 0 m0-u 2" in qrels
    # A rerun into the same folder uses the grade cache: graded pairs are not asked again.
    # Only pairs the tiny model failed to grade (kept out of the cache, never stored as 0)
    # are retried, each at most 1 + max_retries times.
    ungraded = sum(p["grades"][spec] is None for p in grades["pairs"])
    before = llm_server.chat_completions
    invoke(*args, "--runs-out", str(tmp_path / "runs"))
    assert llm_server.chat_completions - before <= ungraded * 4


def test_locomo_brings_its_own_queries(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "runs"
    invoke("eval", "run", "--corpus", str(shared_data / "locomo-dev.json"), "--runs-out",
           str(out), "--mode", "verbatim-bm25", "--mode", "distilled-bm25")  # fmt: skip
    notes = json.loads((out / "notes.json").read_text())
    assert notes["counts"]["fixed"] == 1
    queries = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    assert len(queries) == 302 and {q["category"] for q in queries} == {"1", "2", "3", "4", "5"}
    invoke("eval", "report", "--runs-out", str(out), "--out", str(tmp_path / "report"))
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["by_category"]
