"""The Claude Code session parser, on a hand-written session, a sub-agent file and the real log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.claude_code import ClaudeCodeParser

SESSION = "7f0c2a9e-3b1d-4c55-9e0a-2d8f6b1c4e11"


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(ClaudeCodeParser().parse(path, problems.append)), problems


@pytest.fixture
def session_file(fixtures: Path) -> Path:
    return fixtures / "sources" / "claude-code-session.jsonl"


def test_session_structure(session_file: Path) -> None:
    (conversation,), problems = parse(session_file)
    assert problems == []
    assert conversation.source_id == SESSION
    assert conversation.project == "/home/dev/invoice-app"
    assert conversation.title == "Fix cent rounding in invoice totals"
    exchanges = split_exchanges(conversation)
    assert [e.prompt.split(".")[0] for e in exchanges] == [
        "The invoice total is off by one cent when a discount applies",
        "Use Decimal with ROUND_HALF_UP and run the tests",
        "Keep going: the failing test passes a float, convert the subtotal with Decimal(str(x))",
        "Now add a changelog entry for the fix",
    ]
    kinds = Counter(m.kind for m in conversation.messages)
    assert kinds == {
        "prompt": 4,
        "thinking": 1,
        "text": 4,
        "tool_call": 5,
        "tool_result": 5,
        "meta": 5,
    }
    assert all(
        m.timestamp is not None and m.timestamp.utcoffset() is not None
        for m in conversation.messages
    )


def test_assistant_blocks_regrouped_by_message_id(session_file: Path) -> None:
    (conversation,), _ = parse(session_file)
    first = [m for m in conversation.messages if m.source_id.startswith("msg_01Tot4lsA")]
    # thinking, text and tool_use arrive on three lines; a fourth line repeats the tool_use
    assert [(m.source_id, m.kind, m.line) for m in first] == [
        ("msg_01Tot4lsA", "thinking", 4),
        ("msg_01Tot4lsA#1", "text", 5),
        ("msg_01Tot4lsA#2", "tool_call", 6),
    ]
    call = first[2].tool
    assert call is not None
    assert (call.name, call.call_id) == ("Grep", "toolu_01GrepRound")
    assert call.input == {"pattern": "round\\(", "path": "src/invoice"}
    assert json.loads(first[2].text) == call.input


def test_tool_results_and_meta_are_never_prompts(session_file: Path) -> None:
    (conversation,), _ = parse(session_file)
    by_line = {m.line: m for m in conversation.messages}
    results = [m for m in conversation.messages if m.kind == "tool_result"]
    assert all(m.role == "tool" for m in results)
    assert by_line[10].text.startswith("    17→def total(")  # list-of-blocks content
    assert "1 failed, 3 passed" in by_line[17].text  # an is_error result
    bash = by_line[16]
    assert bash.tool is not None and bash.tool.name == "Bash"
    assert bash.text == "pytest -q tests/test_totals.py"  # shell calls keep the command
    meta_lines = [m.line for m in conversation.messages if m.kind == "meta"]
    # interrupt notice, local-command caveat, /cost, its stdout, compaction summary
    assert meta_lines == [18, 21, 22, 23, 25]
    assert "[image]" in by_line[13].text and by_line[13].kind == "prompt"


def test_subagent_file_is_its_own_conversation(fixtures: Path) -> None:
    (conversation,), problems = parse(fixtures / "sources" / "claude-code-agent-a7e3c91.jsonl")
    assert problems == []
    assert conversation.source_id == f"{SESSION}:agent-a7e3c91"
    assert len(split_exchanges(conversation)) == 1
    assert [m.kind for m in conversation.messages] == ["prompt", "tool_call", "tool_result", "text"]


def test_inline_sidechain_lines_split_off(
    session_file: Path, fixtures: Path, tmp_path: Path
) -> None:
    agent = (fixtures / "sources" / "claude-code-agent-a7e3c91.jsonl").read_text()
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(session_file.read_text() + agent)
    conversations, _ = parse(mixed)
    assert [c.source_id for c in conversations] == [SESSION, f"{SESSION}:agent-a7e3c91"]
    assert len(split_exchanges(conversations[0])) == 4


def test_ids_stable_and_grown_file_only_adds(session_file: Path, tmp_path: Path) -> None:
    lines = session_file.read_text().splitlines(keepends=True)
    full_ids = [m.source_id for m in parse(session_file)[0][0].messages]
    assert full_ids == [m.source_id for m in parse(session_file)[0][0].messages]
    assert len(set(full_ids)) == len(full_ids)
    for cut in (5, 6, 14, 20):  # includes cutting inside one message.id's blocks
        partial = tmp_path / f"cut{cut}.jsonl"
        partial.write_text("".join(lines[:cut]))
        (conversation,), _ = parse(partial)
        ids = [m.source_id for m in conversation.messages]
        assert full_ids[: len(ids)] == ids


def test_truncated_last_line_is_reported_and_skipped(session_file: Path, tmp_path: Path) -> None:
    lines = session_file.read_text().splitlines(keepends=True)
    growing = tmp_path / "growing.jsonl"
    growing.write_text("".join(lines[:10]) + lines[10][:40])
    (conversation,), problems = parse(growing)
    assert [(p.line, "truncated" in p.message) for p in problems] == [(11, True)]
    assert conversation.messages[-1].line == 10


def test_odd_records_become_problems(tmp_path: Path) -> None:
    good = {
        "type": "user",
        "sessionId": "s1",
        "uuid": "u1",
        "message": {"role": "user", "content": "hi"},
    }
    lines = [
        "{not json",
        json.dumps({"type": "user", "sessionId": "s1", "uuid": "u0"}),  # no message
        json.dumps([1, 2]),
        json.dumps({"uuid": "x"}),  # no type
        json.dumps({"type": "assistant", "sessionId": "s1", "message": {"id": "m", "content": 42}}),
        json.dumps(
            {
                "type": "assistant",
                "sessionId": "s1",
                "message": {"id": "m", "content": [7, {"type": "tool_use"}]},
            }
        ),
        json.dumps(
            {
                "type": "user",
                "sessionId": "s1",
                "uuid": "u2",
                "timestamp": "yesterday",
                "message": {"content": "ok"},
            }
        ),
        json.dumps({"type": "brand-new-kind", "sessionId": "s1"}),
        json.dumps(good),
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines) + "\n")
    (conversation,), problems = parse(path)
    assert [p.line for p in problems] == [1, 2, 3, 4, 5, 6, 6, 7]
    assert all(p.path == str(path) for p in problems)
    assert [(m.source_id, m.kind, m.timestamp) for m in conversation.messages] == [
        ("u2", "prompt", None),
        ("u1", "prompt", None),
    ]


def test_nothing_readable_raises(tmp_path: Path) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_text("garbage\n{also garbage\n")
    with pytest.raises(FormatError, match=r"garbage\.jsonl:1"):
        parse(path)


def test_real_session(shared_data: Path) -> None:
    (conversation,), problems = parse(shared_data / "claude-code-session.jsonl")
    assert problems == []
    assert conversation.source_id == "c45af7b1-cb7c-4e51-93db-8cbb250a877a"
    assert conversation.project == "/workspace"
    # Real prompts, counted by hand: lines 2, 10, 19, 27 and 35.
    exchanges = split_exchanges(conversation)
    assert [e.messages[0].line for e in exchanges] == [2, 10, 19, 27, 35]
    assert Counter(m.kind for m in conversation.messages) == {
        "prompt": 5,
        "thinking": 12,
        "tool_call": 10,
        "tool_result": 10,
        "text": 6,
        "meta": 4,
    }
    by_line = {m.line: m for m in conversation.messages}
    assert by_line[60].text.startswith("This session is being continued")
    assert "<command-name>/compact</command-name>" in by_line[62].text
    assert [by_line[n].kind for n in (60, 61, 62, 63)] == ["meta"] * 4
    # message msg_01WMh3eZ1wBMUSJpiqpPxEy4 spans lines 43-46: thinking and three tool calls
    assert [by_line[n].source_id for n in (43, 44, 45, 46)] == [
        "msg_01WMh3eZ1wBMUSJpiqpPxEy4",
        "msg_01WMh3eZ1wBMUSJpiqpPxEy4#1",
        "msg_01WMh3eZ1wBMUSJpiqpPxEy4#2",
        "msg_01WMh3eZ1wBMUSJpiqpPxEy4#3",
    ]


def test_real_subagent(shared_data: Path) -> None:
    (conversation,), _ = parse(shared_data / "claude-code-subagent.jsonl")
    assert conversation.source_id == "c45af7b1-cb7c-4e51-93db-8cbb250a877a:agent-af1ff21"
    assert [m.kind for m in conversation.messages] == ["prompt", "text"]
    # its prompt is "Warmup": Claude Code 2.0.x warming a sub-agent up, nobody's request
    assert conversation.internal == "warmup agent"
    assert split_exchanges(conversation) == []


def test_lone_surrogate_in_a_line_is_replaced(tmp_path: Path) -> None:
    # Claude Code (JavaScript) writes an emoji cut in half by a tool as a lone "\ud83d".
    base = {"sessionId": "s1", "cwd": "/w"}
    lines = [
        {
            **base,
            "type": "user",
            "uuid": "u1",
            "message": {"role": "user", "content": "ping \ud83d ok"},
        },
        {
            **base,
            "type": "assistant",
            "uuid": "a1",
            "message": {
                "id": "m1",
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "Bash",
                        "input": {"command": "cat log"},
                    }
                ],
            },
        },
        {
            **base,
            "type": "user",
            "uuid": "u2",
            "message": {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "line one\nhalf \udd25 emoji",
                    }
                ],
            },
        },
    ]
    path = tmp_path / "session.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert "\\ud83d" in path.read_text()
    (conversation,), problems = parse(path)
    assert problems == []
    texts = [m.text for m in conversation.messages]
    for text in texts:
        text.encode("utf-8")  # a lone surrogate raises here, as it does in SQLite
    assert texts == ["ping \ufffd ok", "cat log", "line one\nhalf \ufffd emoji"]
