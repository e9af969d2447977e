"""SpecStory markdown exports: the v2.1 CLI's Claude Code and Cursor files, and the 2025
Cursor extension's (April's `_**Assistant**_` with `Read file:` lines, October's
`Tool use: **x**` blocks)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memdistill.distill.files import extract_files
from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources import detect_parser
from memdistill.sources.specstory import SpecStoryParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(SpecStoryParser().parse(path, problems.append)), problems


def fixture(fixtures: Path, name: str) -> Conversation:
    (conversation,), problems = parse(fixtures / "sources" / name)
    assert problems == []
    return conversation


def calls(conversation: Conversation) -> list[list[tuple[str, dict[str, str]]]]:
    return [[(t.name, t.input) for t in e.tool_calls] for e in split_exchanges(conversation)]


def test_claude_code_session(fixtures: Path) -> None:
    conversation = fixture(fixtures, "specstory-claude-code.md")
    assert conversation.source_id == "3c9e1f7a-52b4-4d0e-9a61-8f2d7c4b1e05"
    assert not conversation.id_from_file and conversation.title is None
    why, fix, summary = split_exchanges(conversation)
    assert [why.prompt, fix.prompt, summary.prompt] == [
        "the nightly export job writes an empty CSV since yesterday. find out why",
        "/fix-issue compare statuses case-insensitively",  # the command and its argument
        "fix reports/summary.py too",
    ]
    assert why.reply == (
        "I'll look at the export job and what changed in it yesterday.\n"
        'Commit `a41c9e2` keeps only rows whose status is `"Active"`, but the database '
        'stores statuses in lower case (`"active"`), so every row is dropped and the CSV is '
        "written empty."
    )
    assert calls(conversation) == [
        [
            ("Bash", {"command": "git log --since=yesterday --oneline -- jobs/export.py"}),
            ("Read", {"file_path": "./jobs/export.py"}),
        ],
        [
            ("Edit", {"file_path": "/srv/reports/jobs/export.py"}),
            ("Task", {}),
            ("Write", {"file_path": "/srv/reports/tests/test_export.py"}),
        ],
        [("Edit", {"file_path": "/srv/reports/reports/summary.py"})],
    ]
    thinking = [m.text for m in why.messages if m.kind == "thinking"]
    assert thinking == [
        "The export ran fine until yesterday, so a recent commit to the job is the first "
        "suspect. I'll check the log for jobs/export.py."
    ]
    # the command's expansion, the sub-agent's prompt and `/clear` with its output are meta;
    # the sub-agent's answer is tool traffic, not the reply
    assert [m.text[:40] for m in fix.messages if m.kind == "meta"] == [
        "Fix the issue described below. Keep the ",
        "Search jobs/ and reports/ for other comp",
        "/clear",
        "<local-command-stdout></local-command-st",
    ]
    assert "reports/summary.py` compares" not in fix.reply
    assert any(
        "`reports/summary.py` compares" in m.text for m in fix.messages if m.kind == "tool_result"
    )
    assert ("/srv/reports/tests/test_export.py", "created") in {
        (f.path, f.action) for f in extract_files(fix)
    }
    assert why.started_at == datetime(2026, 2, 11, 10, 2, 17, tzinfo=UTC)
    assert fix.messages[-1].timestamp == datetime(2026, 2, 11, 10, 5, 52, tzinfo=UTC)


def test_cursor_v2_session(fixtures: Path) -> None:
    conversation = fixture(fixtures, "specstory-cursor.md")
    assert conversation.source_id == "5e2b8d14-7c3a-4f90-b1e6-0a9d3c7f2b58"
    assert conversation.title == "Rate limit the login endpoint"
    limit, grow = split_exchanges(conversation)
    assert (
        limit.prompt
        == "@server/api/login.post.ts:1-20 add rate limiting, 5 attempts per minute per IP"
    )
    assert limit.reply == (
        "Reviewing the login handler and the existing middleware before adding a limiter.\n"
        "Added `server/utils/rate-limit.ts` with a sliding one-minute window; `login.post.ts` "
        "now returns 429 once an IP passes 5 attempts."
    )
    assert calls(conversation)[0] == [
        ("read_file_v2", {"file_path": "/Users/mia/Projects/pulse/server/api/login.post.ts"}),
        ("semantic_search_full", {}),
        ("edit_file_v2", {"file_path": "/Users/mia/Projects/pulse/server/utils/rate-limit.ts"}),
    ]
    diff = [m.text for m in limit.messages if m.kind == "tool_result"][-1]
    assert "const hits = new Map<string, number[]>()" in diff  # HTML entities decoded
    assert grow.prompt == "does the map grow forever?" and grow.reply.startswith(
        "It keeps one entry"
    )
    assert grow.started_at == datetime(2025, 12, 9, 16, 41, tzinfo=UTC)  # the session's start


def test_cursor_extension_april_2025(fixtures: Path) -> None:
    conversation = fixture(fixtures, "specstory-cursor-2025-04.md")
    assert (conversation.source_id, conversation.id_from_file) == (
        "specstory-specstory-cursor-2025-04",
        True,
    )
    design, tests = split_exchanges(conversation)
    assert design.prompt.startswith("add a `status` subcommand to `tasks`")
    assert calls(conversation)[0] == [
        ("listed_directory", {"path": "src/commands/tasks"}),
        ("Read", {"file_path": "src/commands/tasks/index.ts"}),
    ]
    assert design.reply.endswith("`[x]` to DONE.")
    assert "| 📄 `list.ts` |" in next(m.text for m in design.messages if m.kind == "tool_result")
    assert tests.prompt == "run the tests" and tests.reply.endswith("All 12 tests pass.")


def test_cursor_extension_october_2025(fixtures: Path) -> None:
    conversation = fixture(fixtures, "specstory-cursor-2025-10.md")
    (exchange,) = split_exchanges(conversation)
    assert exchange.prompt.startswith('git push is rejected: "GH013')
    assert exchange.started_at == datetime(2025, 10, 14, 22, 25, tzinfo=UTC)
    assert [(t.name, t.input) for t in exchange.tool_calls] == [
        ("run_terminal_cmd", {"command": 'git rm --cached .env && echo ".env" >> .gitignore'}),
        ("search_replace", {"file_path": ".env.example"}),
    ]
    assert Counter(m.kind for m in exchange.messages) == {
        "prompt": 1,
        "thinking": 2,
        "text": 2,
        "tool_call": 2,
        "tool_result": 2,
    }
    assert (".gitignore", "edited") in {(f.path, f.action) for f in extract_files(exchange)}


def test_ids_count_sections_and_survive_growth(fixtures: Path, tmp_path: Path) -> None:
    source = fixtures / "sources" / "specstory-claude-code.md"
    full = fixture(fixtures, "specstory-claude-code.md")
    ids = [m.source_id for m in full.messages]
    assert len(ids) == len(set(ids))
    assert ids[:3] == [f"{full.source_id}:0", f"{full.source_id}:1", f"{full.source_id}:2"]
    lines = source.read_text().splitlines(keepends=True)
    for cut in (30, 60, 120):
        grown = tmp_path / "2026-02-11_10-02-17Z-the-nightly-export.md"  # a newer name
        grown.write_text("".join(lines[:cut]))
        (conversation,), _ = parse(grown)
        assert conversation.source_id == full.source_id
        partial = [m.source_id for m in conversation.messages]
        assert partial[:-1] == ids[: len(partial) - 1]


def test_headers_inside_code_fences_are_text(tmp_path: Path) -> None:
    path = tmp_path / "session.md"
    path.write_text(
        "<!-- Generated by SpecStory, Markdown v2.1.0 -->\n\n"
        "<!-- Claude Code Session 11111111-2222-3333-4444-555555555555 "
        "(2026-01-01 00:00:00Z) -->\n\n"
        "_**User (2026-01-01 00:00:00Z)**_\n\nwhat does a SpecStory file look like?\n\n---\n\n"
        "_**Agent (claude-opus-4-6 2026-01-01 00:00:05Z)**_\n\nLike this:\n\n"
        "````markdown\n_**User**_\n\nhello\n\n---\n\n_**Agent**_\n````\n"
    )
    (conversation,), _ = parse(path)
    (exchange,) = split_exchanges(conversation)
    assert exchange.reply.startswith("Like this:\n\n````markdown\n_**User**_")


def test_project_is_the_folder_holding_specstory(fixtures: Path, tmp_path: Path) -> None:
    history = tmp_path / "shop" / ".specstory" / "history"
    history.mkdir(parents=True)
    path = history / "2025-12-09_16-41Z-rate-limit.md"
    path.write_text((fixtures / "sources" / "specstory-cursor.md").read_text())
    assert detect_parser(path).name == "specstory"
    assert parse(path)[0][0].project == str((tmp_path / "shop").resolve())


def test_a_session_saved_before_its_first_message_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "2026-07-24_19-12-08Z.md"
    path.write_text(
        "<!-- Generated by SpecStory, Markdown v2.1.0 -->\n\n# 2026-07-24 19:12:08Z\n\n"
        "<!-- Claude Code Session 67a2c437-7a9c-4014-8b18-51c50c26613a (2026-07-24 19:12:08Z) -->\n"
    )
    assert parse(path) == ([], [])


def test_unreadable_header_time_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "s.md"
    path.write_text(
        "<!-- Generated by SpecStory -->\n\n_**User (2026-13-45 99:99Z)**_\n\nhello\n\n---\n\n"
        "_**Assistant**_\n\nHi.\n"
    )
    (conversation,), problems = parse(path)
    assert [(p.line, p.message) for p in problems] == [
        (3, "unreadable timestamp '2026-13-45 99:99Z'; left empty")
    ]
    assert split_exchanges(conversation)[0].reply == "Hi."


def test_other_markdown_is_not_specstory(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# SpecStory: Improve MCP Error Handling\n\n## Conversation Summary\n")
    with pytest.raises(FormatError, match=r"notes\.md"):
        parse(path)
