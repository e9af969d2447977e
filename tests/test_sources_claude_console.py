"""The Claude Code console-text parser, on hand-written screens (macOS and Linux 2.1
drawings) and the real export; the real Linux screens are pinned in test_real_logs.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources import detect_parser
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


@pytest.fixture
def linux(fixtures: Path) -> Path:
    """Claude Code 2.1 on Linux: `❯` prompts, `●` replies, the shell above the banner, the
    input box below."""
    return fixtures / "sources" / "claude-console-linux.txt"


def test_linux_screen_is_detected(linux: Path) -> None:
    assert detect_parser(linux).name == "claude-console"


def test_linux_screen_structure(linux: Path) -> None:
    (conversation,), problems = parse(linux)
    assert problems == []
    assert conversation.project == "~/src/invoice-app"  # under the banner's logo
    exchanges = split_exchanges(conversation)
    # not the shell's `❯ claude --resume ...`, nor the input box's `❯ Try "..."` hint
    assert [e.prompt for e in exchanges] == [
        "run the invoice tests in the background and fix what fails",
        "/changelog round half up fix\nfor the discount rounding",  # its second line unindented
    ]
    assert [e.reply.split(":")[0] for e in exchanges] == [
        "Starting with the discount path while the tests run.\nFixed",
        'Added the entry under "Unreleased".',
    ]
    by_line = {m.line: m for m in conversation.messages}
    assert [(by_line[n].kind, by_line[n].role) for n in (30, 31, 36)] == [
        ("meta", "user"),  # /mcp ran locally: its output follows
        ("meta", "tool"),
        ("meta", "user"),  # the skill's expanded text, holding its arguments
    ]


@pytest.mark.parametrize(
    ("line", "name", "tool_input"),
    [
        (12, "Bash", {"command": "pytest -q tests/"}),
        (17, "Read", {"summary": "Read 1 file (ctrl+o to expand)"}),
        (19, "Update", {"file_path": "src/invoice/totals.py"}),
        (41, "Web Search", {"arg": '"keep a changelog unreleased section format"'}),
        (44, "Plan", {"arg": "Draft the changelog line"}),  # the model's name is not the task's
    ],
)
def test_linux_tool_calls(linux: Path, line: int, name: str, tool_input: dict[str, str]) -> None:
    (conversation,), _ = parse(linux)
    message = next(m for m in conversation.messages if m.line == line)
    assert message.kind == "tool_call" and message.tool is not None
    assert (message.tool.name, message.tool.input) == (name, tool_input)


@pytest.mark.parametrize(
    "text",
    [
        "❯ systemctl status nginx\n● nginx.service - A high performance web server\n"
        "   Loaded: loaded (/lib/systemd/system/nginx.service; enabled)\n",
        "## Notes\n\n● first point\n● second point\n❯ a quote\n",
    ],
)
def test_other_terminals_are_not_claude(tmp_path: Path, text: str) -> None:
    path = tmp_path / "session.log"
    path.write_text(text)
    assert not ClaudeConsoleParser().sniff(path, text)


def test_slash_command_answered_is_a_prompt(tmp_path: Path) -> None:
    path = tmp_path / "screen.txt"
    path.write_text(
        "> /review the totals module\n\n⏺ Reviewing src/invoice/totals.py.\n\n"
        "> /cost\n  ⎿  Total cost: $0.02\n\n> /clear\n> Start again: add tests.\n\n⏺ Added.\n"
    )
    (conversation,), _ = parse(path)
    assert [(m.kind, m.text) for m in conversation.messages if m.role == "user"] == [
        ("prompt", "/review the totals module"),  # the agent answers it
        ("meta", "/cost"),  # local: printed output
        ("meta", "/clear"),  # local: a new prompt follows, not its expansion
        ("prompt", "Start again: add tests."),
    ]
