"""Docids: an exchange's first message id, prefixed with its conversation's id when a
corpus reuses message ids across conversations (eval/docids.py), end to end through
run_eval: qrels, runs, the LLM pool, compression.jsonl and the report agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memdistill.errors import ConfigError
from memdistill.eval.docids import assign, make_docid
from memdistill.eval.graders import Judgment
from memdistill.eval.metrics import read_run
from memdistill.eval.report import build_report
from memdistill.eval.runs import Config, run_eval

# Two conversations numbering their messages m1, m2, ... alike, as generic exports do.
CONVERSATIONS = {
    "alpha": [
        ("How do I water basil?", "Water basil when the top inch of soil is dry."),
        ("And tomatoes?", "Plant tomatoes outdoors after the last frost."),
    ],
    "beta": [
        ("Why does the importer crash?", "The NOAA CSV is latin-1, not UTF-8: a decode error."),
        ("Add a Dockerfile", "I wrote a Dockerfile based on python:3.11-slim."),
    ],
}


def write_corpus(path: Path, prefixes: tuple[str, str] = ("m", "m")) -> Path:
    """Generic JSONL; message ids are prefix + number within each conversation."""
    lines = []
    for (conversation, turns), m in zip(CONVERSATIONS.items(), prefixes, strict=True):
        for n, (prompt, reply) in enumerate(turns):
            base = {"conversation_id": conversation, "project": "p",
                    "timestamp": f"2026-03-0{n + 1}T10:00:00Z"}  # fmt: skip
            lines.append({**base, "message_id": f"{m}{2 * n + 1}", "role": "user",
                          "content": prompt})  # fmt: skip
            lines.append({**base, "message_id": f"{m}{2 * n + 2}", "role": "assistant",
                          "content": reply})  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


class KeywordGrader:
    """A stand-in LLM grader: 2 when the exchange's text holds the keyword, else 0. It
    shows which text the pool handed over for each docid."""

    name = "keyword"
    prompt_version = "test"
    model = "keyword"

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        self.seen: list[str] = []

    def judge(self, query: str, text: str) -> Judgment | None:
        self.seen.append(text)
        return Judgment(2 if self.keyword in text else 0)


def test_plain_message_ids_when_unique() -> None:
    docids = assign([(1, "c1", "m0-u"), (2, "c1", "m1 u"), (3, "c2", "m2-u")])
    assert docids.scheme == "message"
    assert docids.of_row == {1: "m0-u", 2: "m1_u", 3: "m2-u"}  # TREC ids hold no whitespace
    assert docids.row_of["m1_u"] == 2


def test_conversation_prefix_for_every_exchange_when_ids_collide() -> None:
    docids = assign([(1, "c1", "m1"), (2, "c1", "m3"), (3, "c 2", "m1")])
    assert docids.scheme == "conversation/message"
    # Every docid, not only the colliding ones: one scheme per store, stable across runs.
    assert docids.of_row == {1: "c1/m1", 2: "c1/m3", 3: "c_2/m1"}
    assert make_docid("conversation/message", "c1", "m1") == "c1/m1"


def test_collision_that_no_prefix_resolves_is_an_error() -> None:
    with pytest.raises(ConfigError, match="distinct ids"):
        assign([(1, "a/b", "c"), (2, "a", "b/c"), (3, "x", "c")])


def test_reused_message_ids_across_conversations(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "reused.jsonl")
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        # m1 is in both conversations: the label grades both exchanges.
        '{"qid": "both", "query": "basil latin-1", "relevant": {"m1": 2}}\n'
        '{"qid": "tomato", "query": "tomatoes frost", "relevant": {"m3": 1}}\n'
        '{"qid": "u1", "query": "basil or the CSV"}\n'  # unlabelled: the grader's
    )
    grader = KeywordGrader("basil")
    runs = tmp_path / "runs"
    configs = [Config("verbatim-bm25", None), Config("distilled-bm25", None)]
    config = run_eval([corpus], runs, queries_path=queries, graders=[grader], configs=configs)

    assert config["docids"] == "conversation/message"
    assert json.loads((runs / "config.json").read_text())["docids"] == "conversation/message"
    labels = (runs / "qrels-labels.txt").read_text().splitlines()
    assert labels == ["both 0 alpha/m1 2", "both 0 beta/m1 2",
                      "tomato 0 alpha/m3 1", "tomato 0 beta/m3 1"]  # fmt: skip
    run = read_run(runs / "runs" / "verbatim-bm25.trec")  # "ranked twice" would raise here
    assert sorted(d.docid for d in run["u1"]) == ["alpha/m1", "beta/m1"]
    compression = [json.loads(line) for line in (runs / "compression.jsonl").read_text()
                   .splitlines()]  # fmt: skip
    assert sorted(c["docid"] for c in compression) == ["alpha/m1", "alpha/m3", "beta/m1",
                                                       "beta/m3"]  # fmt: skip
    # The pool handed each docid its own exchange's text: only alpha/m1 mentions basil.
    assert (runs / "qrels-llm.txt").read_text() == "u1 0 alpha/m1 2\nu1 0 beta/m1 0\n"
    assert len(grader.seen) == 2

    results = build_report(runs, tmp_path / "report")
    mrr = {c["name"]: c["metrics"]["MRR@10"] for c in results["configurations"]}
    assert mrr["verbatim-bm25"] > 0


def test_unique_ids_keep_the_message_scheme(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "unique.jsonl", ("a", "b"))
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"qid": "q", "query": "basil", "relevant": {"a1": 2}}\n')
    config = run_eval([corpus], tmp_path / "runs", queries_path=queries,
                      configs=[Config("verbatim-bm25", None)])  # fmt: skip
    assert config["docids"] == "message"
    assert (tmp_path / "runs" / "qrels.txt").read_text() == "q 0 a1 2\n"
