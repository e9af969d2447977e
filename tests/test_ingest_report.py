"""What an ingest says about what it did not index: the files of a folder that are not chat
logs, each with why (issue 12, fault 9), and the agents' own conversations it stored but
kept out of search (fault 4). Through the library and the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memdistill.api import Memory
from memdistill.cli import app

runner = CliRunner()
SESSION = "3b7e5c1a-9d42-4f6e-8a1b-2c9d7e4f6a10"
JSON_WHY = "JSON in no chat-log format memdistill reads (keys: sessionId, kind)"


@pytest.fixture
def folder(tmp_path: Path, fixtures: Path) -> Path:
    """A project folder as people have them: a Claude Code session with its sub-agents, and
    files that are no chat log."""
    root = tmp_path / "project"
    shutil.copytree(fixtures / "sources" / "claude-code-2.1", root / "sessions")
    (root / "README.md").write_text("# invoice-app\n\nInvoices, with totals that round.\n")
    (root / "notes.txt").write_text("")
    (root / "events.json").write_text(json.dumps([{"sessionId": "x", "kind": "metric"}]))
    return root


def test_skipped_files_are_named_with_why(folder: Path, tmp_path: Path) -> None:
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest([folder])
    assert report.files_skipped == 3 and report.files_failed == 0
    why = {Path(p.path).name: p.message for p in report.skipped}
    assert why == {
        "README.md": "no chat-log format recognises it (it starts '# invoice-app')",
        "events.json": JSON_WHY,
        "notes.txt": "empty file",
    }


def test_internal_agents_are_stored_not_searched(folder: Path, tmp_path: Path) -> None:
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest([folder])
        assert [(c.conversation_id, c.why) for c in report.internal] == [
            (f"{SESSION}:agent-acompact-7d2e1f", "compaction agent")
        ]
        # 5 exchanges of the session, 1 of the real sub-agent; none of the compaction agent
        assert report.exchanges_added == 6 and report.conversations == 3
        hits = memory.search("create a detailed summary of the conversation so far", k=10)
        assert hits and all(not h.conversation_id.endswith("acompact-7d2e1f") for h in hits)
        kept = memory.store.db.execute(
            "SELECT m.kind, m.exchange_id FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id WHERE c.external_id = ?",
            [f"{SESSION}:agent-acompact-7d2e1f"],
        ).fetchall()
    assert [kind for kind, _ in kept] == ["meta", "prompt", "text"]  # every line, verbatim
    assert {exchange for _, exchange in kept} == {None}  # in no exchange, so in no index


def test_cli_summary_and_json_list_them(folder: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    result = runner.invoke(app, ["ingest", str(folder), "--store", store])
    assert result.exit_code == 0, result.output
    assert "3 not chat logs" in result.output
    assert "Internal agents: 1 stored, not indexed (1 compaction agent)" in result.output
    assert f"{folder / 'README.md'}: no chat-log format recognises it" in result.output
    (folder / "notes.txt").write_text("still not a log\n")  # changed: read again
    result = runner.invoke(app, ["ingest", str(folder), "--store", store, "--json"])
    data = json.loads(result.output)
    unknown = "no chat-log format recognises it (it starts {!r})"
    assert data["skipped"] == [
        {"path": str(folder / "README.md"), "why": unknown.format("# invoice-app")},
        {"path": str(folder / "events.json"), "why": JSON_WHY},
        {"path": str(folder / "notes.txt"), "why": unknown.format("still not a log")},
    ]
    assert data["internal"] == []  # the session's files are unchanged: not read again


def test_format_claude_console_takes_the_linux_screen(fixtures: Path, tmp_path: Path) -> None:
    screen = fixtures / "sources" / "claude-console-linux.txt"
    args = ["ingest", str(screen), "--store", str(tmp_path / "store"), "--json"]
    result = runner.invoke(app, [*args, "--format", "claude-console"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["files_failed"], data["exchanges_added"]) == (0, 2)
