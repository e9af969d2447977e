"""The aider chat-history parser, on a history written the way aider's io.py appends one."""

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
from memdistill.sources.aider import AiderParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(AiderParser().parse(path, problems.append)), problems


@pytest.fixture
def history(fixtures: Path) -> Path:
    return fixtures / "sources" / "aider-chat-history.md"


def test_sessions_and_prompts(history: Path) -> None:
    (first, second), problems = parse(history)
    assert problems == []
    assert (first.source_id, second.source_id) == (
        "aider-2026-02-03T09:14:07",
        "aider-2026-02-04T16:40:52",
    )
    assert first.id_from_file and first.project is None
    assert [e.prompt for e in split_exchanges(first)] == [
        # the `/add` before it and the start-up banner are meta, in its exchange
        "The invoice total is off by one cent when a discount applies.\n"
        "Round with Decimal and ROUND_HALF_UP.",
        "does anything else call round() on money?",  # `/ask X` and its echo: one prompt
        "fix refunds.py the same way\nand add a test for both",  # multi-line `/code`
    ]
    # `/model` is meta; the architect's plan logged again as the editor's input is not a
    # prompt: the editor's edits belong to the request
    (split,) = split_exchanges(second)
    assert split.prompt == "split the money helpers out of invoice.py"
    assert split.reply.startswith("Move the currency helpers into `billing/money.py`")
    assert split.reply.endswith("def to_cents(amount): ...\n>>>>>>> REPLACE\n```")
    assert [(t.name, t.input) for t in split.tool_calls] == [
        ("edit", {"path": "billing/money.py"}),
        ("edit", {"path": "billing/invoice.py"}),
    ]
    started = datetime(2026, 2, 3, 9, 14, 7, tzinfo=UTC)
    assert {m.timestamp for m in first.messages} == {started}


def test_replies_tool_output_and_files(history: Path) -> None:
    (first, _), _ = parse(history)
    fix, ask, code = split_exchanges(first)
    # a `#### ` heading without aider's two trailing spaces belongs to the reply
    assert "\n#### Step 1: use Decimal\n" in fix.reply
    assert [(t.name, t.input) for t in fix.tool_calls] == [
        ("read", {"path": "billing/invoice.py"}),  # added by `/add` for this request
        ("edit", {"path": "billing/invoice.py"}),
    ]
    results = [m.text for m in fix.messages if m.kind == "tool_result"]
    assert results == [
        "Tokens: 3.1k sent, 412 received. Cost: $0.02 message, $0.02 session.",
        "Commit 4e1a9c2 fix: round invoice totals with Decimal ROUND_HALF_UP\n"
        "You can use /undo to undo and discard each aider commit.",
    ]
    assert (
        ask.reply == "Only `billing/refunds.py` does, in `refund_amount()`. It has the same drift."
    )
    assert ask.tool_calls == []
    assert [(t.name, t.input) for t in code.tool_calls] == [
        ("read", {"path": "billing/refunds.py"}),  # "Add file to the chat? ... y"
        ("create", {"path": "tests/test_money.py"}),  # "Create new file? ... y"
        ("edit", {"path": "tests/test_money.py"}),
        ("edit", {"path": "billing/refunds.py"}),
        ("shell", {"command": "pytest -q tests/test_money.py"}),  # "Running ..."
    ]
    output = next(m for m in code.messages if m.kind == "tool_result" and "passed" in m.text)
    assert output.text.startswith("2 passed in 0.04s\n(exit status 0)")
    assert {(f.path, f.action) for f in extract_files(code)} >= {
        ("billing/refunds.py", "edited"),
        ("tests/test_money.py", "created"),
    }
    assert Counter(m.kind for m in first.messages) == {
        "meta": 3,  # the start-up banner, `/add`, and what `/add` printed
        "prompt": 3,
        "text": 3,
        "tool_call": 7,
        "tool_result": 7,
    }


def test_ids_are_lines_and_survive_growth(history: Path, tmp_path: Path) -> None:
    conversations, _ = parse(history)
    for conversation in conversations:
        for message in conversation.messages:
            assert message.source_id.startswith(f"{conversation.source_id}:L{message.line}")
    full = [m.source_id for c in conversations for m in c.messages]
    assert len(full) == len(set(full))
    lines = history.read_text().splitlines(keepends=True)
    for cut in (16, 40, 70, 90):
        grown = tmp_path / history.name
        grown.write_text("".join(lines[:cut]))
        ids = [m.source_id for c in parse(grown)[0] for m in c.messages]
        # only the block cut in the middle may end differently; every earlier id stays
        assert ids[:-2] == full[: max(len(ids) - 2, 0)]


def test_project_is_the_folder_of_the_history_file(history: Path, tmp_path: Path) -> None:
    named = tmp_path / ".aider.chat.history.md"
    named.write_text(history.read_text())
    assert detect_parser(named).name == "aider"
    assert {c.project for c in parse(named)[0]} == {str(tmp_path.resolve())}


def test_trailing_spaces_stripped_by_an_editor(history: Path, tmp_path: Path) -> None:
    stripped = tmp_path / "stripped.md"
    stripped.write_text("\n".join(ln.rstrip() for ln in history.read_text().splitlines()))
    (first, second), _ = parse(stripped)
    prompts = [e.prompt for e in split_exchanges(first)]
    # with aider's marks gone, a `#### ` heading in a reply can no longer be told apart
    assert prompts[0].startswith("The invoice total") and "Step 1: use Decimal" in prompts
    assert prompts[-1] == "fix refunds.py the same way\nand add a test for both"
    assert split_exchanges(second)[0].prompt == "split the money helpers out of invoice.py"


def test_output_with_blank_lines_and_windows_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    path.write_bytes(
        b"\r\n# aider chat started at 2025-08-06 12:06:30\r\n\r\n"
        b"#### /test pytest -q  \r\n"
        b"> ====== test session starts ======\r\n\r\ntests/test_a.py F\r\n\r\n1 failed  \r\n\r\n"
        b"#### fix the failing test  \r\n\r\n"
        b"The assertion compares floats; use pytest.approx.\r\n\r\n"
        b"> Applied edit to tests/test_a.py  \r\n"
    )
    (conversation,), problems = parse(path)
    assert problems == []
    (exchange,) = split_exchanges(conversation)
    assert exchange.prompt == "fix the failing test"
    assert exchange.reply == "The assertion compares floats; use pytest.approx."
    meta = [m.text for m in conversation.messages if m.kind == "meta"]
    assert meta == [
        "/test pytest -q",
        "====== test session starts ======\n\ntests/test_a.py F\n\n1 failed",
    ]


def test_early_2023_layout(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    path.write_text(
        "\n# Aider chat started at 2023-05-12 15:23:26\n\n"
        "_Creating /Users/dev/flask/app.py_  \n_Added app.py to the git repo_  \n\n"
        "---\n#### >  make a flask app with a /hello endpoint  \n\n"
        "Ok, here are the changes:\n\n"
        "_Applied edit to app.py_  \n_d8dab4e aider: Added a /hello endpoint._  \n"
    )
    (conversation,), _ = parse(path)
    (exchange,) = split_exchanges(conversation)
    assert exchange.prompt == "make a flask app with a /hello endpoint"
    assert [(t.name, t.input) for t in exchange.tool_calls] == [("edit", {"path": "app.py"})]


def test_unreadable_session_time_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    path.write_text("# aider chat started at yesterday\n\n#### hello  \n\nHi.\n")
    (conversation,), problems = parse(path)
    assert conversation.source_id == "aider-L1"
    assert [(p.line, p.message) for p in problems] == [
        (1, "unreadable timestamp 'yesterday'; left empty")
    ]
    assert split_exchanges(conversation)[0].reply == "Hi."


def test_repeated_session_start_gets_its_own_id(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    session = "\n# aider chat started at 2025-10-20 21:49:17\n\n#### hi  \n\nHello.\n\n"
    path.write_text(session * 2)
    assert [c.source_id for c in parse(path)[0]] == [
        "aider-2025-10-20T21:49:17",
        "aider-2025-10-20T21:49:17~2",
    ]


def test_banner_only_sessions_are_no_conversation(tmp_path: Path) -> None:
    path = tmp_path / "history.md"
    path.write_text(
        "\n# aider chat started at 2025-06-02 11:47:49\n\n> Aider v0.84.0  \n"
        "\n# aider chat started at 2025-06-02 11:49:34\n\n#### /add **  \n> ^C again to exit  \n"
    )
    assert parse(path) == ([], [])


@pytest.mark.parametrize("content", ["", "# Notes\n\nnothing here\n", "> a quote  \n"])
def test_not_an_aider_history(tmp_path: Path, content: str) -> None:
    path = tmp_path / "notes.md"
    path.write_text(content)
    with pytest.raises(FormatError, match=r"notes\.md"):
        parse(path)
