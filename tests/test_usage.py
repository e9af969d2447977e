"""Usage signals (issue 5's first part): hits served count as freq, feedback as utility."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from corpus import write_generic
from typer.testing import CliRunner

from memdistill.api import Memory
from memdistill.cli import app
from memdistill.errors import NotFoundError
from memdistill.store import usage as usage_module
from memdistill.store.usage import usage_of

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    with Memory.open(folder) as memory:
        memory.ingest([write_generic(tmp_path / "c.jsonl")])
    return folder


def counters(store: Path) -> dict[int, tuple[int, int]]:
    db = sqlite3.connect(store / "memdistill.db")
    return {row[0]: (row[1], row[2]) for row in db.execute(
        "SELECT exchange_id, freq, utility FROM usage")}  # fmt: skip


def test_served_hits_count_once_each_and_are_written_in_batches(store: Path) -> None:
    with Memory.open(store) as memory:
        hits = memory.search("database is locked", k=3)
        assert counters(store) == {i: (0, 0) for i in counters(store)}  # buffered, not written
        memory.search("database is locked", k=3)
    served = {hit.exchange_id for hit in hits}
    after = counters(store)
    assert {i for i, (freq, _) in after.items() if freq} == served
    assert all(after[i] == (2, 0) for i in served)
    with Memory.open(store) as memory:
        assert usage_of(memory.store, "default", hits[0].exchange_id)["last_served"]  # type: ignore[index]


def test_a_full_buffer_is_written_without_waiting_for_close(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_module, "FLUSH_EVERY", 2)
    with Memory.open(store) as memory:
        memory.search("Dockerfile", k=2)
        assert sum(freq for freq, _ in counters(store).values()) == 2


def test_feedback_adds_utility_and_history(store: Path) -> None:
    with Memory.open(store) as memory:
        (hit,) = memory.search("NOAA CSV latin-1", k=1)
        assert memory.feedback(hit.exchange_id, useful=True) == 1
        assert memory.feedback([hit.exchange_id], useful=False) == 1
    assert counters(store)[hit.exchange_id] == (1, 1)  # served once, useful once
    db = sqlite3.connect(store / "memdistill.db")
    verdicts = [json.loads(row[0])["useful"] for row in db.execute(
        "SELECT detail FROM history WHERE action = 'feedback' AND exchange_id = ? ORDER BY id",
        [hit.exchange_id])]  # fmt: skip
    assert verdicts == [True, False]


def test_feedback_on_unknown_or_foreign_ids_changes_nothing(store: Path) -> None:
    with Memory.open(store) as memory:
        known = memory.search("Dockerfile", k=1)[0].exchange_id
    before = counters(store)
    with Memory.open(store) as memory, pytest.raises(NotFoundError, match="no memory 9999"):
        memory.feedback([known, 9999], useful=True)
    with Memory.open(store, tenant="bob") as memory, pytest.raises(NotFoundError):
        memory.feedback(known, useful=True)
    assert counters(store) == before


def test_feedback_from_the_command_line(store: Path) -> None:
    with Memory.open(store) as memory:
        exchange_id = memory.search("Dockerfile", k=1)[0].exchange_id
    result = runner.invoke(app, ["feedback", str(exchange_id), "--useful", "--store", str(store),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"recorded": 1, "useful": True}
    assert counters(store)[exchange_id][1] == 1
    result = runner.invoke(app, ["feedback", "424242", "--not-useful", "--store", str(store)])
    assert result.exit_code == 1 and "no memory 424242" in result.output
