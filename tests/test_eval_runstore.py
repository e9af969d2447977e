"""The store of a runs folder (eval/runstore.py): reused only for the same corpus and
embedder, made afresh otherwise; a store given explicitly is used as it is."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from corpus import EXCHANGES, write_generic

from memdistill.errors import ConfigError
from memdistill.eval.runs import Config, run_eval

ONE_MODE = [Config("verbatim-bm25", None)]


@pytest.fixture
def corpora(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Two corpora (tidewater's first conversation; the garden one) and a query set."""
    first = write_generic(tmp_path / "first.jsonl", EXCHANGES[:3])
    second = write_generic(tmp_path / "second.jsonl", EXCHANGES[5:7])
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"qid": "q", "query": "tomatoes basil latin-1", "relevant": {}}\n')
    return first, second, queries


def conversations(store: Path) -> set[str]:
    with sqlite3.connect(store / "memdistill.db") as db:
        return {row[0] for row in db.execute("SELECT external_id FROM conversations")}


def run(corpus: Path, queries: Path, runs: Path, store: Path | None = None) -> None:
    run_eval([corpus], runs, queries_path=queries, configs=ONE_MODE, store=store)


def test_same_corpus_reuses_the_store(tmp_path: Path, corpora: tuple[Path, Path, Path]) -> None:
    first, _, queries = corpora
    runs = tmp_path / "runs"
    run(first, queries, runs)
    marker = runs / "store" / "marker"
    marker.touch()
    config = json.loads((runs / "config.json").read_text())
    assert config["corpus"] == [str(first.resolve())]
    assert config["store"] == str((runs / "store").resolve())
    run(first, queries, runs)
    assert marker.exists()
    assert json.loads((runs / "config.json").read_text())["store_note"].startswith("reused")


def test_another_corpus_gets_a_fresh_store(
    tmp_path: Path, corpora: tuple[Path, Path, Path]
) -> None:
    first, second, queries = corpora
    runs = tmp_path / "runs"
    run(first, queries, runs)
    assert conversations(runs / "store") == {"c1"}
    (runs / "store" / "marker").touch()
    run(second, queries, runs)
    assert not (runs / "store" / "marker").exists()
    assert conversations(runs / "store") == {"c3"}  # the first corpus is not searched
    note = json.loads((runs / "config.json").read_text())["store_note"]
    assert note == "made afresh: the previous run ingested another corpus"
    hits = (runs / "runs" / "verbatim-bm25.trec").read_text().splitlines()
    assert 1 <= len(hits) <= 2  # the second corpus's two exchanges at most


def test_another_embedder_gets_a_fresh_store(
    tmp_path: Path, corpora: tuple[Path, Path, Path]
) -> None:
    first, _, queries = corpora
    runs = tmp_path / "runs"
    run(first, queries, runs)
    (runs / "store" / "marker").touch()
    config = json.loads((runs / "config.json").read_text())
    # As if the previous run had used another model (loading a second one is slow).
    (runs / "config.json").write_text(json.dumps({**config, "embedder": "another-model"}))
    run(first, queries, runs)
    assert not (runs / "store" / "marker").exists()


def test_an_explicit_store_is_used_as_given(
    tmp_path: Path, corpora: tuple[Path, Path, Path]
) -> None:
    first, second, queries = corpora
    store = tmp_path / "mine"
    run(first, queries, tmp_path / "runs-1", store=store)
    run(second, queries, tmp_path / "runs-2", store=store)
    assert conversations(store) == {"c1", "c3"}  # incremental, as asked
    assert not (tmp_path / "runs-2" / "store").exists()


def test_a_store_no_run_made_is_never_deleted(
    tmp_path: Path, corpora: tuple[Path, Path, Path]
) -> None:
    first, _, queries = corpora
    runs = tmp_path / "runs"
    (runs / "store").mkdir(parents=True)
    (runs / "store" / "memdistill.db").write_bytes(b"someone's memory")
    with pytest.raises(ConfigError, match="--store"):
        run(first, queries, runs)
    assert (runs / "store" / "memdistill.db").read_bytes() == b"someone's memory"
