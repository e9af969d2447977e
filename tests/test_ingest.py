"""Ingest end to end on real parts: parsers, distiller, ONNX embedder, SQLite, BM25, FAISS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpus import EXCHANGES, write_generic

from memdistill.api import Memory


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_generic(tmp_path / "notes.jsonl")


def test_ingest_stores_every_exchange_with_all_four_fields(tmp_path: Path, log: Path) -> None:
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(log)
        assert (report.files, report.exchanges_added, report.problems) == (1, len(EXCHANGES), [])
        assert report.conversations == 4
        db = memory.store.db
        rows = db.execute(
            "SELECT m.exchange_core, m.specific_context, e.verbatim_tokens, m.distilled_tokens, "
            "e.tenant, e.project FROM memories m JOIN exchanges e ON e.id = m.exchange_id"
        ).fetchall()
        assert len(rows) == len(EXCHANGES)
        for core, _context, verbatim_tokens, distilled_tokens, tenant, project in rows:
            assert core and verbatim_tokens > 0 and distilled_tokens > 0
            assert tenant == "default" and project in {"tidewater", "garden"}
        rooms = db.execute("SELECT COUNT(*) FROM memory_rooms").fetchone()[0]
        assert rooms >= len(EXCHANGES)
        files = {r[0] for r in db.execute("SELECT path FROM files_touched")}
        assert {"src/tidewater/importer.py", "src/tidewater/db.py", "Dockerfile"} <= files
        vectors = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        assert vectors == 2 * len(EXCHANGES)
        history = db.execute("SELECT DISTINCT action FROM history").fetchall()
        assert history == [("created",)]


def test_reingest_adds_nothing(tmp_path: Path, log: Path) -> None:
    with Memory.open(tmp_path / "store") as memory:
        memory.ingest(log)
        again = memory.ingest(log)
        assert (again.files_unchanged, again.exchanges_added) == (1, 0)
        log.touch()  # same bytes: still skipped by hash
        assert memory.ingest(log).files_unchanged == 1


def test_grown_file_adds_new_exchanges_and_completes_the_cut_one(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    full = write_generic(tmp_path / "full.jsonl").read_text().splitlines(keepends=True)
    # Cut mid-reply: the third exchange has its prompt but not yet its answer.
    cut = next(i for i, line in enumerate(full) if '"m2-a"' in line)
    path.write_text("".join(full[:cut]))
    with Memory.open(tmp_path / "store") as memory:
        first = memory.ingest(path)
        assert first.exchanges_added == 3
        path.write_text("".join(full))
        second = memory.ingest(path)
        assert (second.exchanges_added, second.exchanges_updated) == (len(EXCHANGES) - 3, 1)
        assert second.exchanges_skipped == 2
        total = memory.store.db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0]
        assert total == len(EXCHANGES)
        hits = memory.search("database is locked WAL busy_timeout", k=1)
        assert hits[0].source_message_ids == ["m2-u", "m2-a"]  # the completed exchange
        actions = memory.store.db.execute(
            "SELECT action FROM history WHERE exchange_id = ? ORDER BY id", [hits[0].exchange_id]
        ).fetchall()
        assert actions == [("created",), ("updated",)]


def test_bad_lines_are_reported_with_file_and_line_and_the_rest_is_kept(
    tmp_path: Path, log: Path
) -> None:
    lines = log.read_text().splitlines()
    lines.insert(3, '{"conversation_id": "c1", "role": "user", "content": ')  # truncated JSON
    lines.append('{"role": "assistant", "content": "cut off mid')  # truncated last line
    log.write_text("\n".join(lines) + "\n")
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(log)
        assert report.exchanges_added == len(EXCHANGES)
        where = [(p.path, p.line) for p in report.problems]
        assert (str(log), 4) in where and (str(log), len(lines)) in where


def test_unknown_format_and_missing_file_are_problems_not_crashes(
    tmp_path: Path, log: Path
) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": "world"}')
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest([junk, tmp_path / "missing.jsonl", log])
        assert report.files_failed == 2 and report.exchanges_added == len(EXCHANGES)
        messages = " ".join(str(p) for p in report.problems)
        assert "unknown format" in messages and "--format" in messages
        assert "no such file" in messages


def test_folder_ingest_is_recursive_and_format_can_be_forced(tmp_path: Path) -> None:
    folder = tmp_path / "logs" / "deep"
    folder.mkdir(parents=True)
    write_generic(folder / "a.jsonl", EXCHANGES[:2])
    write_generic(folder / "b.txt", EXCHANGES[5:7])  # an odd name: detection still works
    (tmp_path / "logs" / "README.md").write_text("# My logs\n\nNot a chat log.\n")
    (tmp_path / "logs" / ".hidden").mkdir()
    write_generic(tmp_path / "logs" / ".hidden" / "c.jsonl", EXCHANGES[2:3])
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(tmp_path / "logs")
        assert (report.files, report.exchanges_added) == (3, 4)
        assert (report.files_skipped, report.files_failed, report.problems) == (1, 0, [])
        forced = memory.ingest(folder, format="generic")
        assert (forced.files_unchanged, forced.exchanges_added) == (2, 0)


def test_project_flag_names_sources_without_a_project(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    path.write_text(
        json.dumps(
            [
                {"role": "user", "content": "How do I list files in Python?"},
                {"role": "assistant", "content": "Use pathlib.Path.iterdir()."},
            ]
        )
    )
    with Memory.open(tmp_path / "store") as memory:
        memory.ingest(path, project="scratch")
        assert memory.stats().projects == {"scratch": 1}


def test_real_samples_ingest_without_problems(tmp_path: Path, shared_data: Path) -> None:
    files = [
        "claude-code-session.jsonl",
        "claude-code-subagent.jsonl",
        "chatgpt-export-sample.json",
        "claude-code-console-export.md",
    ]
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest([shared_data / f for f in files])
        assert report.problems == [] and report.files_failed == 0
        # the sub-agent sample is a 2.0.x "Warmup" agent: stored, not an exchange
        assert report.exchanges_added == 5 + 0 + 19 + 28
        assert [c.why for c in report.internal] == ["warmup agent"]
        stats = memory.stats()
        assert stats.compression > 5
        hello = memory.search("hello_world.py", k=3, file="hello_world.py")
        assert hello and all(any(f.path.endswith("hello_world.py") for f in h.files) for h in hello)


def test_a_store_made_by_an_older_parser_is_read_again(
    tmp_path: Path, fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file unchanged since an older memdistill read it is read again once its parser reads
    differently (`Parser.revision`), so the store gets the new split; others stay skipped."""
    from memdistill.sources.claude_code import ClaudeCodeParser

    session = (
        fixtures / "sources" / "claude-code-2.1" / "3b7e5c1a-9d42-4f6e-8a1b-2c9d7e4f6a10.jsonl"
    )
    with Memory.open(tmp_path / "store") as memory:
        first = memory.ingest([session, log_file := write_generic(tmp_path / "notes.jsonl")])
        assert first.exchanges_added == 5 + len(EXCHANGES)
        # as a store written before revisions holds it: the bare sha256 of the session
        db = memory.store.db
        with memory.store.transaction():
            db.execute("UPDATE sources SET sha256 = substr(sha256, 1, 64) WHERE path LIKE '%3b7e%'")
        again = memory.ingest([session, log_file])
        assert (again.files_unchanged, again.exchanges_skipped, again.exchanges_added) == (1, 5, 0)
        monkeypatch.setattr(ClaudeCodeParser, "revision", ClaudeCodeParser.revision + 1)
        bumped = memory.ingest([session, log_file])
        assert (bumped.files_unchanged, bumped.exchanges_skipped) == (1, 5)
        assert memory.ingest([session, log_file]).files_unchanged == 2
