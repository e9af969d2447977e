"""The real-log dev set (data/dev-real): queries well formed, labels naming real messages.

The corpus is third-party data kept outside the repository: ../shared/data (the shared
samples) and ../devdata (logs fetched from public repositories, rebuilt from
data/dev-real/manifest.jsonl by data/dev-real/rebuild_devdata.py). Label checks skip
cleanly when either is absent; the format checks always run.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from memdistill.eval.datasets import load_queries
from memdistill.sources import detect_parser

REPO = Path(__file__).resolve().parents[1]
DEV = REPO / "data" / "dev-real"
QUERIES = DEV / "queries.jsonl"
MANIFEST = DEV / "manifest.jsonl"
DEVDATA = Path(os.environ.get("MEMDISTILL_DEVDATA", REPO.parent / "devdata"))

# The shared part of the corpus, as `eval run --corpus` is given it (docs/evaluation.md).
SHARED_CORPUS = (
    "claude-code-session.jsonl",
    "claude-code-subagent.jsonl",
    "claude-code-console-export.md",
    "chatgpt-export-sample.json",
    "real",
)
TYPES = {"error", "decision", "file", "topic", "temporal", "absent"}
MANIFEST_FIELDS = {"dest", "repo", "commit", "path", "licence", "size", "sha256", "exchanges"}


def _records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_queries_are_well_formed() -> None:
    records = _records(QUERIES)
    loaded = load_queries(QUERIES)  # the harness reads the file as it is
    assert len(loaded) == len(records) >= 60
    qids = [r["qid"] for r in records]
    assert len(set(qids)) == len(qids)
    for record in records:
        assert set(record) == {"qid", "query", "type", "paraphrase", "relevant"}, record
        assert re.fullmatch(r"r\d\d", str(record["qid"]))
        assert isinstance(record["query"], str) and len(record["query"].split()) >= 3
        assert record["type"] in TYPES
        assert isinstance(record["paraphrase"], bool)
        relevant = record["relevant"]
        assert isinstance(relevant, dict)
        assert (record["type"] == "absent") == (relevant == {}), record["qid"]
        assert all(grade in (1, 2) for grade in relevant.values()), record["qid"]
        if relevant:  # every answerable query has an answer, not only related exchanges
            assert 2 in relevant.values(), record["qid"]


def test_manifest_is_well_formed() -> None:
    rows = _records(MANIFEST)
    assert rows
    assert len({row["dest"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == MANIFEST_FIELDS, row
        assert re.fullmatch(r"[0-9a-f]{40}", str(row["commit"]))
        assert re.fullmatch(r"[0-9a-f]{64}", str(row["sha256"]))
        assert row["licence"] in {"MIT", "Apache-2.0"}
        assert not str(row["dest"]).startswith("/") and ".." not in str(row["dest"])


def _corpus_messages(paths: list[Path]) -> dict[str, str]:
    """Every message id of the corpus files, with its role."""
    messages: dict[str, str] = {}
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                parser = detect_parser(path)
            except Exception:  # a format no parser reads yet (Gemini, the ❯ console)
                continue
            for conversation in parser.parse(path, lambda problem: None):
                for message in conversation.messages:
                    messages[message.source_id] = message.role
    return messages


def test_every_label_names_a_user_message_of_the_corpus(shared_data: Path) -> None:
    labels = {label: record["qid"] for record in _records(QUERIES) for label in record["relevant"]}
    shared = _corpus_messages([shared_data / name for name in SHARED_CORPUS])
    found = {label for label in labels if label in shared}
    assert all(shared[label] == "user" for label in found)
    if not DEVDATA.is_dir():
        pytest.skip(
            f"{DEVDATA} is absent: {len(found)} labels checked against ../shared/data, the "
            "rest need the fetched logs (python data/dev-real/rebuild_devdata.py)"
        )
    fetched = _corpus_messages([DEVDATA])
    missing = {label: qid for label, qid in labels.items() if label not in shared | fetched}
    assert not missing, f"labels naming no message of the corpus: {missing}"
    roles = {**fetched, **shared}
    not_user = {label: qid for label, qid in labels.items() if roles[label] != "user"}
    assert not not_user, f"labels naming a message that is not the person's: {not_user}"


def test_fetched_files_match_the_manifest() -> None:
    if not DEVDATA.is_dir():
        pytest.skip(f"{DEVDATA} is absent (python data/dev-real/rebuild_devdata.py)")
    wrong = [
        row["dest"]
        for row in _records(MANIFEST)
        if not (DEVDATA / str(row["dest"])).is_file()
        or (DEVDATA / str(row["dest"])).stat().st_size != row["size"]
    ]
    assert not wrong, f"missing or changed files under {DEVDATA}: {wrong[:5]}"
