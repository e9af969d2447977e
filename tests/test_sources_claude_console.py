"""The Claude Code console-text parser, on a hand-written screen and the real export."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.claude_console import ClaudeConsoleParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(ClaudeConsoleParser().parse(path, problems.append)), problems


@pytest.fixture
def screen(fixtures: Path) -> Path:
    return fixtures / "sources" / "claude-console-session.txt"


def test_screen_structure(screen: Path) -> None:
    (conversation,), problems = parse(screen)
    assert problems == []
    assert conversation.project == "/home/dev/invoice-app"
    assert conversation.source_id.startswith("console-")
    exchanges = split_exchanges(conversation)
    assert [e.prompt for e in exchanges] == [
        "Why does the invoice total drift by one cent\nwhen a discount applies?",
        "Switch it to Decimal with ROUND_HALF_UP.",
        "Add a changelog entry.",
    ]
    assert Counter(m.kind for m in conversation.messages) == {
        "prompt": 3,
        "text": 4,
        "thinking": 1,
        "tool_call": 5,
        "tool_result": 5,
        "meta": 5,
    }
    for message in conversation.messages:
        assert message.source_id == f"{conversation.source_id}:L{message.line}"
        assert message.timestamp is None


@pytest.mark.parametrize(
    ("line", "name", "tool_input", "text"),
    [
        (
            16,
            "Read",
            {"file_path": "src/invoice/totals.py"},
            '{"file_path": "src/invoice/totals.py"}',
        ),
        (
            19,
            "Bash",
            {"command": "pytest -q tests/test_totals.py"},
            "pytest -q tests/test_totals.py",
        ),
        (38, "Update", {"file_path": "src/invoice/totals.py"}, None),
        (46, "Call", {"arg": "Check the change"}, None),
        (63, "Write", {"file_path": "CHANGELOG.md"}, None),
    ],
)
def test_tool_calls(
    screen: Path, line: int, name: str, tool_input: dict[str, str], text: str | None
) -> None:
    (conversation,), _ = parse(screen)
    message = next(m for m in conversation.messages if m.line == line)
    assert message.kind == "tool_call" and message.tool is not None
    assert (message.tool.name, message.tool.input) == (name, tool_input)
    if text is not None:
        assert message.text == text


def test_results_meta_and_thinking(screen: Path) -> None:
    (conversation,), _ = parse(screen)
    by_line = {m.line: m for m in conversation.messages}
    assert by_line[20].kind == "tool_result"
    assert by_line[20].text.splitlines()[-1] == "1 failed, 3 passed in 0.12s"
    nested = by_line[47]  # the ⎿ lines under a Call: one result holding the sub-calls
    assert nested.kind == "tool_result"
    assert nested.text.splitlines() == [
        "Read(src/invoice/totals.py)…",
        "Bash(pytest -q)…",
        "Done (2 tool uses · 1.4s)",
    ]
    assert "18 +    amount = Decimal(str(subtotal))" in by_line[39].text  # diff indentation kept
    assert by_line[24].kind == "thinking"
    assert [(by_line[n].kind, by_line[n].role) for n in (31, 32, 53, 54, 56)] == [
        ("meta", "user"),
        ("meta", "tool"),
        ("meta", "user"),
        ("meta", "tool"),
        ("meta", "user"),
    ]
    assert not any(m.kind == "prompt" for m in conversation.messages if m.role == "tool")


def test_ids_survive_growth(screen: Path, tmp_path: Path) -> None:
    lines = screen.read_text().splitlines(keepends=True)
    (full,), _ = parse(screen)
    assert [m.source_id for m in full.messages] == [
        m.source_id for m in parse(screen)[0][0].messages
    ]
    for cut in (15, 35, 52):
        partial = tmp_path / screen.name  # same file name: the same conversation
        partial.write_text("".join(lines[:cut]))
        (conversation,), _ = parse(partial)
        assert conversation.source_id == full.source_id
        ids = [m.source_id for m in conversation.messages]
        assert ids == [m.source_id for m in full.messages][: len(ids)]


def test_conversation_id_depends_on_file_name(screen: Path, tmp_path: Path) -> None:
    other = tmp_path / "day-2.txt"
    other.write_text(screen.read_text())
    assert parse(other)[0][0].source_id != parse(screen)[0][0].source_id


@pytest.mark.parametrize(
    "content",
    [b"", b"just some notes\nwith no markers\n", b"\x00\xff\xfe garbage \x89PNG", b"   \n\t\n"],
)
def test_no_conversation_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=r"notes\.txt"):
        parse(path)


def test_stray_lines_do_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_text("  ⎿  output before anything\n⏺\n>\n⏺ Bash(\n  ⎿  (No content)\n> /cost\n")
    (conversation,), _ = parse(path)
    # bare markers are dropped; output with no call before it is kept as meta
    kinds = [m.kind for m in conversation.messages]
    assert kinds == ["meta", "tool_call", "tool_result", "meta"]


def test_real_export(shared_data: Path) -> None:
    path = shared_data / "claude-code-console-export.md"
    (conversation,), problems = parse(path)
    assert problems == []
    assert conversation.project == "/Users/palimondo/Developer/BookMinder"
    prompts = [m for m in conversation.messages if m.role == "user"]
    # 35 "> " blocks: 3 /cost, 2 /compact and 2 "This session is being continued" are meta
    assert (
        len(prompts)
        == len([ln for ln in path.read_text().splitlines() if ln.startswith("> ")])
        == 35
    )
    assert Counter(m.kind for m in prompts) == {"prompt": 28, "meta": 7}
    assert len(split_exchanges(conversation)) == 28
    kinds = Counter(m.kind for m in conversation.messages)
    assert kinds["tool_call"] == kinds["tool_result"] == 123
    calls = Counter(m.tool.name for m in conversation.messages if m.tool)
    assert calls["Bash"] == 60 and calls["Call"] == 11
