"""Refinement (issue 5) end to end: dry run, history, restore, interruption, counters,
chains, on a real store (SQLite, FAISS, the bundled ONNX embedder) built from a corpus with
a real near-duplicate and a real reversal. The rules' boundaries: test_refine_rules.py."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from corpus import write_generic
from typer.testing import CliRunner

from memdistill.api import Memory
from memdistill.cli import app
from memdistill.errors import NotFoundError, StateError
from memdistill.models import Hit
from memdistill.refine import RefineSettings
from memdistill.retrieve.retriever import Retriever

runner = CliRunner()
MODES = ("verbatim-bm25", "verbatim-vector", "distilled-bm25", "distilled-vector")

DUPLICATE = ("How do I enable WAL mode in SQLite for the tidewater database?",
             "Run PRAGMA journal_mode=WAL once on src/tidewater/db.py's connection and set "
             "busy_timeout to 5000 ms; readers then never block the importer.")  # fmt: skip
CORPUS = [
    ("a1", "tide", 2, "write the NOAA fetcher in src/tidewater/fetch.py, use requests",
     "src/tidewater/fetch.py downloads the CSV with requests.get and a 30 s timeout.",
     None, None),
    ("a1", "tide", 3, *DUPLICATE, None, None),
    ("a2", "tide", 9, DUPLICATE[0].replace("How do I", "how do i"), DUPLICATE[1], None, None),
    ("a2", "tide", 12, "switch the NOAA fetcher in src/tidewater/fetch.py to httpx, drop requests",
     "The NOAA fetcher in src/tidewater/fetch.py now downloads the CSV with httpx.Client "
     "instead of requests (same 30 s timeout); requests is gone from pyproject.toml.",
     None, None),
    ("a3", "tide", 14, "How should the importer parse dates in the NOAA CSV?",
     "Parse the Date Time column with datetime.strptime('%Y-%m-%d %H:%M') in importer.py.",
     None, None),
    ("g1", "garden", 8, "When should I plant tomatoes outside?",
     "After the last frost, when nights stay above 10 degrees.", None, None),
]  # fmt: skip
SETTINGS = RefineSettings()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    with Memory.open(folder) as memory:
        memory.ingest([write_generic(tmp_path / "log.jsonl", CORPUS)])
    return folder


def ids_by_prompt(memory: Memory) -> dict[str, int]:
    rows = memory.store.db.execute(
        "SELECT exchange_id, text FROM messages WHERE kind = 'prompt'").fetchall()  # fmt: skip
    return {text: eid for eid, text in rows}


def search(memory: Memory, query: str, **options: object) -> list[Hit]:
    """As Memory.search, without counting the hits as served (the counters are under test)."""
    retriever = Retriever(memory.store, memory.tenant, memory.indexes, memory.embedder)
    return retriever.search(query, **options)  # type: ignore[arg-type]


def found_everywhere(memory: Memory, exchange_id: int, query: str) -> dict[str, bool]:
    return {
        mode: any(h.exchange_id == exchange_id for h in search(memory, query, k=10, mode=mode))
        for mode in MODES
    }


def set_usage(store: Path, exchange_id: int, freq: int, utility: int, verdicts: int = 1) -> None:
    with sqlite3.connect(store / "memdistill.db") as db:
        db.execute("UPDATE usage SET freq = ?, utility = ?, verdicts = ? WHERE exchange_id = ?",
                   [freq, utility, verdicts, exchange_id])  # fmt: skip


def totals(store: Path) -> tuple[int, int]:
    with sqlite3.connect(store / "memdistill.db") as db:
        return db.execute("SELECT SUM(freq), SUM(utility) FROM usage").fetchone()


def dump(store: Path) -> str:
    """Every row of every table, as SQL (the file's bytes also change on a checkpoint)."""
    with sqlite3.connect(store / "memdistill.db") as db:
        return hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()


def statuses(store: Path) -> dict[int, tuple[str, int | None]]:
    with sqlite3.connect(store / "memdistill.db") as db:
        return {r[0]: (r[1], r[2]) for r in db.execute(
            "SELECT exchange_id, status, replaced_by FROM memories")}  # fmt: skip


def test_dry_run_plans_every_rule_and_changes_nothing(store: Path) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
    garden = ids["When should I plant tomatoes outside?"]
    set_usage(store, garden, 6, 1)
    before = dump(store)
    with Memory.open(store) as memory:
        report = memory.refine(dry_run=True)
    assert dump(store) == before
    assert report.counts() == {"merge": 1, "supersede": 1, "prune": 1}
    by_rule = {c.rule: c for c in report.planned}
    assert (by_rule["merge"].exchange_id, by_rule["merge"].target) == (
        ids[DUPLICATE[0]],
        ids[DUPLICATE[0].replace("How do I", "how do i")],
    )
    assert by_rule["supersede"].exchange_id == ids[CORPUS[0][3]]
    assert by_rule["supersede"].target == ids[CORPUS[3][3]]
    assert by_rule["prune"].exchange_id == garden
    assert "served 6 times, useful 1 (ratio 0.17 < 0.5; 1 verdicts)" in by_rule["prune"].reason


def test_refine_takes_memories_out_of_every_index_and_restore_puts_them_back(
    store: Path,
) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
    old_fetcher, new_fetcher = ids[CORPUS[0][3]], ids[CORPUS[3][3]]
    dup, canonical = ids[DUPLICATE[0]], ids[DUPLICATE[0].replace("How do I", "how do i")]
    garden = ids["When should I plant tomatoes outside?"]
    set_usage(store, garden, 5, 2)  # 0.4 < 0.5
    set_usage(store, dup, 3, 0)
    set_usage(store, canonical, 1, 1)  # more useful (and newer): canonical
    before_totals = totals(store)
    with Memory.open(store) as memory:
        assert all(found_everywhere(memory, garden, "plant tomatoes outside frost").values())
        report = memory.refine()
        assert report.counts() == {"merge": 1, "supersede": 1, "prune": 1}
        assert (report.indexed_before, report.indexed_after) == (6, 3)
        assert memory.stats().statuses == {"active": 3, "merged": 1, "superseded": 1,
                                           "pruned": 1}  # fmt: skip
        # Out of all four indexes; the verbatim exchange is still there.
        assert not any(found_everywhere(memory, garden, "plant tomatoes outside frost").values())
        assert memory.drill_down(garden)[0].text == "When should I plant tomatoes outside?"
        top = search(memory, "NOAA fetcher requests httpx", k=3)
        assert top[0].exchange_id == new_fetcher and top[0].supersedes == [old_fetcher]
        wal = search(memory, "enable WAL mode busy_timeout", k=3)
        assert wal[0].exchange_id == canonical and wal[0].merged == [dup]
        assert all(h.exchange_id != dup for h in wal)
    # Counters stay where they were; every change has a history row with rule and reason.
    assert totals(store) == before_totals
    assert statuses(store)[dup] == ("merged", canonical)
    with Memory.open(store) as memory:
        merged = memory.history(dup)[-1]
        assert merged.action == "merged" and merged.detail["rule"] == "merge"
        assert merged.detail["before"] == {"status": "active"}
        assert merged.detail["counters"] == {"freq": 3, "utility": 0, "verdicts": 1}
        assert "near-duplicate" in merged.detail["reason"]
        assert memory.history(canonical)[-1].action == "merged_in"
        assert memory.history(new_fetcher)[-1].action == "supersedes"
        assert memory.history(old_fetcher)[-1].detail["after"] == {
            "status": "superseded", "replaced_by": new_fetcher}  # fmt: skip
        assert memory.history(garden)[-1].action == "pruned"
        # Restore each kind: back in every index, counters back where they were.
        for exchange_id, query in ((garden, "plant tomatoes outside frost"),
                                   (dup, "enable WAL mode busy_timeout"),
                                   (old_fetcher, "NOAA fetcher requests")):  # fmt: skip
            memory.restore(exchange_id)
            assert all(found_everywhere(memory, exchange_id, query).values()), exchange_id
            assert memory.history(exchange_id)[-1].action == "restored"
    assert totals(store) == before_totals
    with sqlite3.connect(store / "memdistill.db") as db:
        assert db.execute("SELECT freq, utility FROM usage WHERE exchange_id = ?",
                          [dup]).fetchone() == (3, 0)  # fmt: skip
    assert {s for s, _ in statuses(store).values()} == {"active"}
    # A restored memory is not refined away again by the rule a person undid.
    with Memory.open(store) as memory:
        assert memory.refine(dry_run=True).planned == []


def test_restore_refuses_what_was_not_refined(store: Path) -> None:
    with Memory.open(store) as memory:
        with pytest.raises(StateError, match="active"):
            memory.restore(1)
        with pytest.raises(NotFoundError, match="no memory 999"):
            memory.restore(999)
    # Another tenant's memory is not found.
    with Memory.open(store, tenant="other") as memory, pytest.raises(NotFoundError):
        memory.restore(1)


def test_reingest_keeps_refined_memories_out(store: Path, tmp_path: Path) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
        memory.refine()
        grown = [*CORPUS, ("a3", "tide", 20, "add a --station flag", "Added --station.",
                           None, None)]  # fmt: skip
        report = memory.ingest([write_generic(tmp_path / "log.jsonl", grown)])
        assert report.exchanges_added == 1
    assert statuses(store)[ids[DUPLICATE[0]]][0] == "merged"
    assert statuses(store)[ids[CORPUS[0][3]]][0] == "superseded"


def test_an_interrupted_refinement_leaves_whole_changes_and_finishes_on_rerun(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memdistill.refine import apply as apply_module

    monkeypatch.setattr(apply_module, "BATCH", 1)  # one transaction per change
    with Memory.open(store) as memory:
        garden = ids_by_prompt(memory)["When should I plant tomatoes outside?"]
    set_usage(store, garden, 9, 0)
    before_totals = totals(store)
    seen = []

    def stop_on_second(change: object, written: bool) -> None:
        seen.append(change)
        if len(seen) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the second change's batch

    with Memory.open(store) as memory, pytest.raises(KeyboardInterrupt):
        memory.refine(on_change=stop_on_second)
    after = statuses(store)
    assert sum(1 for s, _ in after.values() if s != "active") == 1  # the first, whole
    assert totals(store) == before_totals
    with sqlite3.connect(store / "memdistill.db") as db:
        refined = {r[0] for r in db.execute(
            "SELECT exchange_id FROM memories WHERE status != 'active'")}  # fmt: skip
        logged = {
            r[0]
            for r in db.execute(
                "SELECT exchange_id FROM history WHERE action IN ('merged', 'superseded', 'pruned')"
            )
        }
    assert refined == logged
    with Memory.open(store) as memory:  # a new process: the indexes catch up on open
        active = {eid for eid, (s, _) in statuses(store).items() if s == "active"}
        assert len(memory.indexes) == len(active)
        report = memory.refine()
        assert len(report.written) == 2
    assert sum(1 for s, _ in statuses(store).values() if s != "active") == 3
    assert totals(store) == before_totals


def test_cli_refine_dry_run_table_then_history_and_restore(store: Path) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
    dup = ids[DUPLICATE[0]]
    out = runner.invoke(app, ["refine", "--dry-run", "--store", str(store)])
    assert out.exit_code == 0, out.output
    assert "merge" in out.output and "supersede" in out.output and "Would take 2" in out.output
    assert statuses(store)[dup][0] == "active"
    out = runner.invoke(app, ["refine", "--rule", "merge", "--store", str(store), "--json"])
    assert out.exit_code == 0, out.output
    assert '"merge": 1' in out.output and '"supersede": 0' in out.output
    out = runner.invoke(app, ["stats", "--store", str(store)])
    assert "Out of the indexes (kept): 1 merged" in out.output, out.output
    out = runner.invoke(app, ["history", str(dup), "--store", str(store)])
    assert "merged: near-duplicate of" in out.output, out.output
    out = runner.invoke(app, ["restore", str(dup), "--store", str(store)])
    assert out.exit_code == 0 and "Restored" in out.output, out.output
    out = runner.invoke(app, ["restore", str(dup), "--store", str(store)])
    assert out.exit_code == 1 and "it is active" in out.output
    out = runner.invoke(app, ["refine", "--min-freq", "0", "--store", str(store)])
    assert out.exit_code == 1 and "--min-freq" in out.output


def test_search_and_feedback_drive_pruning_through_the_api(store: Path) -> None:
    """The counters come from real serving and feedback, not SQL."""
    with Memory.open(store) as memory:
        garden = ids_by_prompt(memory)["When should I plant tomatoes outside?"]
        for _ in range(5):
            assert memory.search("plant tomatoes", k=1, project="garden")[0].exchange_id == garden
        for _ in range(3):
            memory.feedback(garden, useful=True)
        memory.feedback(garden, useful=False)  # a verdict, not utility
        assert memory.refine(RefineSettings(rules=("prune",)), dry_run=True).planned == []
        for _ in range(2):  # 7 served, 3 useful: 0.43
            memory.search("plant tomatoes", k=1, project="garden")
        report = memory.refine(RefineSettings(rules=("prune",)))
        assert [c.exchange_id for c in report.written] == [garden]


def test_a_refine_without_settings_uses_the_stores_config(store: Path) -> None:
    (store / "config.toml").write_text('[refine]\nmin_freq = 2\nrules = ["prune"]\n')
    with Memory.open(store) as memory:
        garden = ids_by_prompt(memory)["When should I plant tomatoes outside?"]
        for _ in range(2):
            memory.search("plant tomatoes", k=1, project="garden")
        memory.feedback(garden, useful=False)
        report = memory.refine(dry_run=True)
        assert [(c.rule, c.exchange_id) for c in report.planned] == [("prune", garden)]


def test_forgetting_a_canonical_memory_restores_its_duplicates_with_their_counters(
    store: Path,
) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
    dup, canonical = ids[DUPLICATE[0]], ids[DUPLICATE[0].replace("How do I", "how do i")]
    set_usage(store, dup, 3, 1)
    set_usage(store, canonical, 2, 2)
    with Memory.open(store) as memory:
        memory.refine(RefineSettings(rules=("merge",)))
        assert statuses(store)[dup] == ("merged", canonical)
        report = memory.forget(canonical)
        assert report.restored == [dup]
        assert all(found_everywhere(memory, dup, "enable WAL mode busy_timeout").values())
        assert memory.history(dup)[-1].detail["reason"].endswith("was forgotten")
    assert statuses(store)[dup] == ("active", None) and canonical not in statuses(store)
    with sqlite3.connect(store / "memdistill.db") as db:
        assert db.execute("SELECT freq, utility, verdicts FROM usage WHERE exchange_id = ?",
                          [dup]).fetchone() == (3, 1, 1)  # fmt: skip


def test_merged_counters_count_in_the_canonical_memory_across_runs(store: Path) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
    dup, canonical = ids[DUPLICATE[0]], ids[DUPLICATE[0].replace("How do I", "how do i")]
    set_usage(store, dup, 3, 0)
    set_usage(store, canonical, 2, 1)  # alone: 2 served, not judged by prune
    with Memory.open(store) as memory:
        memory.refine(RefineSettings(rules=("merge",)))
        # A later run judges the group: 5 served, 1 useful.
        report = memory.refine(RefineSettings(rules=("prune",)))
        assert [c.exchange_id for c in report.written] == [canonical]
        assert "served 5 times, useful 1" in report.written[0].reason


def test_a_superseded_chain_is_written_whole_whatever_the_row_ids(tmp_path: Path) -> None:
    """Row ids do not follow time: the oldest decision may have the highest id."""
    talk = [
        ("c", "tide", 9, "switch the NOAA fetcher in src/tidewater/fetch.py back to requests",
         "The NOAA fetcher in src/tidewater/fetch.py downloads the CSV with requests again "
         "instead of httpx (30 s timeout).", None, None),
        ("b", "tide", 5, "switch the NOAA fetcher in src/tidewater/fetch.py to httpx, drop "
         "requests", "The NOAA fetcher in src/tidewater/fetch.py now downloads the CSV with "
         "httpx.Client instead of requests (30 s timeout).", None, None),
        ("a", "tide", 1, "write the NOAA fetcher in src/tidewater/fetch.py, use requests",
         "The NOAA fetcher in src/tidewater/fetch.py downloads the CSV with requests.get and "
         "a 30 s timeout.", None, None),
    ]  # fmt: skip
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest([write_generic(tmp_path / "log.jsonl", talk)])
        ids = ids_by_prompt(memory)
        a, b, c = (ids[t[3]] for t in reversed(talk))
        assert a > c  # the oldest decision was written last
        report = memory.refine(RefineSettings(rules=("supersede",)))
        assert report.skipped == []
        assert {(ch.exchange_id, ch.target) for ch in report.written} == {(a, b), (b, c)}
        assert [h.exchange_id for h in search(memory, "NOAA fetcher requests", k=3)] == [c]


def test_restore_along_a_merge_chain_in_any_order_keeps_every_counter(
    store: Path, tmp_path: Path
) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
    dup, canonical = ids[DUPLICATE[0]], ids[DUPLICATE[0].replace("How do I", "how do i")]
    set_usage(store, dup, 1, 0)
    set_usage(store, canonical, 2, 0)
    with Memory.open(store) as memory:
        memory.refine(RefineSettings(rules=("merge",)))  # dup -> canonical
        # The question comes a third time, later: the next run merges canonical -> third.
        third = ("a9", "tide", 20, DUPLICATE[0].upper(), DUPLICATE[1], None, None)
        memory.ingest([write_generic(tmp_path / "later.jsonl", [third])])
        latest = ids_by_prompt(memory)[DUPLICATE[0].upper()]
        set_usage(store, latest, 4, 0)
        memory.refine(RefineSettings(rules=("merge",)))
        assert statuses(store)[canonical] == ("merged", latest)
        assert statuses(store)[dup] == ("merged", canonical)
        report = memory.refine(RefineSettings(rules=("prune",), min_freq=7), dry_run=True)
        assert [c.exchange_id for c in report.planned] == [latest]  # 1 + 2 + 4 served
        memory.restore(dup)
        memory.restore(canonical)
    with sqlite3.connect(store / "memdistill.db") as db:
        got = dict(db.execute("SELECT exchange_id, freq FROM usage WHERE exchange_id IN "
                              "(?, ?, ?)", [dup, canonical, latest]).fetchall())  # fmt: skip
    assert got == {dup: 1, canonical: 2, latest: 4}


def test_a_canonical_memory_that_leaves_its_file_gives_its_duplicates_back(
    store: Path, tmp_path: Path
) -> None:
    with Memory.open(store) as memory:
        ids = ids_by_prompt(memory)
        dup, canonical = ids[DUPLICATE[0]], ids[DUPLICATE[0].replace("How do I", "how do i")]
        memory.refine(RefineSettings(rules=("merge",)))
        # The canonical exchange (the third message pair, m2) is edited out of the file.
        path = tmp_path / "log.jsonl"
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join(line for line in lines if '"m2-' not in line))
        report = memory.ingest([path])
        assert report.exchanges_left_source == 1
        assert statuses(store)[canonical][0] == "left_source"
        assert statuses(store)[dup] == ("active", None)
        assert dup in [h.exchange_id for h in search(memory, "enable WAL mode", k=3)]
