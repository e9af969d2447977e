"""The Codex rollout parser, on both line shapes and on Codex Desktop's prompts.

The real rollouts of ../shared/data/real/codex are pinned in test_real_logs.py; the ones
here are the project's own. The fixtures follow openai/codex `codex-rs/protocol`
(`models.rs` ResponseItem: message, reasoning, function_call(_output), custom_tool_call
(_output), local_shell_call, web_search_call; `protocol.rs` RolloutItem: session_meta,
response_item, compacted, turn_context, event_msg) and rollouts published by Codex CLI 0.46
users; the older file follows the pre-envelope shape ({id, timestamp, instructions} header,
{"record_type": "state"} markers, bare items) seen in parsers of mid-2025 rollouts.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.codex import CodexParser

SESSION = "0199a6c1-7d2e-7b30-9f4e-3c8a1d5e6f70"
LEGACY = "5c3e9b7a-1f42-4d8e-a0b6-2e7d9c4f1a83"


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(CodexParser().parse(path, problems.append)), problems


@pytest.fixture
def rollout(fixtures: Path) -> Path:
    return fixtures / "sources" / f"rollout-2025-10-29T09-14-00-{SESSION}.jsonl"


DESKTOP = "019c5a2e-4b1f-7d30-9e8a-6f2b1c3d4e5f"


@pytest.fixture
def desktop(fixtures: Path) -> Path:
    """Codex Desktop 0.128's shape: prompts only as `event_msg` user_message."""
    return fixtures / "sources" / f"rollout-2026-03-02T10-15-00-{DESKTOP}.jsonl"


@pytest.fixture
def legacy(fixtures: Path) -> Path:
    return fixtures / "sources" / f"rollout-2025-05-20T10-01-44-{LEGACY}.jsonl"


def test_rollout_structure(rollout: Path) -> None:
    (conversation,), problems = parse(rollout)
    assert problems == []
    assert (conversation.source_id, conversation.project) == (SESSION, "/home/dev/invoice-app")
    exchanges = split_exchanges(conversation)
    # event_msg user_message lines repeat the prompts: they must not add exchanges
    assert [e.prompt for e in exchanges] == [
        "The invoice total is off by one cent when a discount applies. Find out why and fix it.",
        "Is there a standard for this? Check what Python's docs say about quantize.",
        'Thanks. Commit it as "Round invoice totals half up".',
    ]
    assert Counter(m.kind for m in conversation.messages) == {
        "meta": 3,  # AGENTS.md instructions, environment context, compaction summary
        "prompt": 3,
        "thinking": 1,
        "tool_call": 6,
        "tool_result": 5,
        "text": 3,
    }
    for message in conversation.messages:
        assert message.source_id == f"{SESSION}:{message.line}"
        assert message.timestamp is not None and message.timestamp.utcoffset() is not None


@pytest.mark.parametrize(
    ("line", "name", "text", "call_id"),
    [
        (9, "shell", 'rg -n "round\\(" src/invoice', "call_Q1rg9mV2"),
        (
            11,
            "apply_patch",
            "*** Begin Patch\n*** Update File: src/invoice/totals.py",
            "call_P4tch7xk",
        ),
        (13, "shell_command", "pytest -q tests/test_totals.py", "call_T3sts0k1"),
        (21, "web_search", "python decimal quantize ROUND_HALF_UP", None),
        (22, "local_shell", "python3 -c 'from decimal import *;", "call_L0cal5h"),
    ],
)
def test_tool_calls(rollout: Path, line: int, name: str, text: str, call_id: str | None) -> None:
    (conversation,), _ = parse(rollout)
    message = next(m for m in conversation.messages if m.line == line)
    assert message.kind == "tool_call" and message.tool is not None
    assert (message.tool.name, message.tool.call_id) == (name, call_id)
    assert message.text.startswith(text)


def test_tool_outputs(rollout: Path) -> None:
    (conversation,), _ = parse(rollout)
    by_line = {m.line: m for m in conversation.messages}
    # {"output": ..., "metadata": ...} JSON strings are unwrapped; plain text and {content} too
    assert (
        by_line[10].text
        == "src/invoice/totals.py:18:    return round(subtotal * (1 - discount), 2)\n"
    )
    assert by_line[12].text.startswith("Success. Updated the following files")
    assert by_line[14].text.startswith("Exit code: 0\n")
    assert by_line[23].text == "10.05\n"
    assert all(by_line[n].role == "tool" for n in (10, 12, 14, 23, 28))
    assert by_line[8].kind == "thinking" and by_line[8].text == "**Searching for rounding code**"
    assert by_line[25].kind == "meta" and by_line[25].text.startswith(
        "The user fixed invoice totals"
    )


def test_legacy_rollout(legacy: Path) -> None:
    (conversation,), problems = parse(legacy)
    assert problems == []
    assert conversation.source_id == LEGACY
    assert conversation.project == "/home/dev/notes"  # from the environment context
    assert [(m.source_id, m.kind) for m in conversation.messages] == [
        (f"{LEGACY}:3", "meta"),
        (f"{LEGACY}:4", "meta"),
        (f"{LEGACY}:5", "prompt"),
        ("rs_682c5e1f0a8c8191", "thinking"),
        ("fc_682c5e2a11f88191", "tool_call"),
        (f"{LEGACY}:9", "tool_result"),
        ("msg_682c5e3b77d48191", "text"),
    ]
    assert conversation.messages[4].text == "grep -n connect notes/sync.py"
    assert all(m.timestamp is None for m in conversation.messages)
    assert len(split_exchanges(conversation)) == 1


@pytest.mark.parametrize("name", ["rollout", "legacy"])
def test_grown_file_only_adds(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    path: Path = request.getfixturevalue(name)
    lines = path.read_text().splitlines(keepends=True)
    full = [m.source_id for m in parse(path)[0][0].messages]
    assert full == [m.source_id for m in parse(path)[0][0].messages]
    assert len(set(full)) == len(full)
    for cut in range(5, len(lines), 4):
        partial = tmp_path / path.name
        partial.write_text("".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])
        (conversation,), problems = parse(partial)
        ids = [m.source_id for m in conversation.messages]
        assert ids == full[: len(ids)]
        assert [(p.line, "truncated" in p.message) for p in problems] == [(cut + 1, True)]


def test_odd_lines_become_problems(tmp_path: Path) -> None:
    lines = [
        {
            "timestamp": "2025-10-29T09:00:00Z",
            "type": "session_meta",
            "payload": {"id": "s-1", "cwd": "/w"},
        },
        {
            "timestamp": "2025-10-29T09:00:01Z",
            "type": "response_item",
            "payload": {"type": "message", "content": []},
        },
        {
            "timestamp": "not a time",
            "type": "response_item",
            "payload": {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "data:"},
                ],
            },
        },
        {  # the same input as an event: not a second prompt
            "timestamp": "2025-10-29T09:00:02Z",
            "type": "event_msg",
            "payload": {"type": "user_message", "message": "hi", "images": ["data:"]},
        },
        {
            "timestamp": "2025-10-29T09:00:03Z",
            "type": "response_item",
            "payload": {"type": "function_call", "arguments": "{}"},
        },
        {
            "timestamp": "2025-10-29T09:00:04Z",
            "type": "response_item",
            "payload": {
                "type": "function_call",
                "name": "shell",
                "arguments": "not json",
                "call_id": "c",
            },
        },
        {"timestamp": "2025-10-29T09:00:05Z", "type": "response_item", "payload": "not an object"},
        {
            "timestamp": "2025-10-29T09:00:06Z",
            "type": "response_item",
            "payload": {"type": "ghost_snapshot", "ghost_commit": {}},
        },
        {"what": "ever"},
    ]
    path = tmp_path / "rollout-odd.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    (conversation,), problems = parse(path)
    assert [p.line for p in problems] == [2, 3, 5, 7, 9]
    assert [(m.kind, m.text) for m in conversation.messages] == [
        ("prompt", "hi\n[image]"),
        ("tool_call", '{"arguments": "not json"}'),
    ]
    assert conversation.messages[0].timestamp is None


def test_missing_header_uses_file_name(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2025-01-01T00-00-00-abc.jsonl"
    item = {
        "type": "response_item",
        "payload": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}],
        },
    }
    path.write_text(json.dumps(item) + "\n")
    (conversation,), problems = parse(path)
    assert conversation.source_id == path.stem
    assert conversation.messages[0].source_id == f"{path.stem}:1"
    assert [p.line for p in problems] == [None]


def test_nothing_readable_raises(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(FormatError, match="no line"):
        parse(path)


def test_desktop_prompts_are_user_message_events(desktop: Path) -> None:
    (conversation,), problems = parse(desktop)
    assert problems == []
    exchanges = split_exchanges(conversation)
    assert [e.prompt.strip().split("\n")[-1] for e in exchanges] == [
        "why is the discounted total one cent low?",
        "fix it with Decimal",
        "and the screenshot?",
    ]
    assert exchanges[0].prompt.lstrip().startswith("# Files mentioned by the user:")
    assert exchanges[2].prompt == "[image]\nand the screenshot?"  # the image it carried
    assert [e.reply.split(":")[0] for e in exchanges] == [
        "`apply_discount()` rounds a binary float with round(), which rounds half to even",
        "Done",
        "The screenshot shows the same one-cent gap on the discounted line; the fix covers it.",
    ]
    assert [t.name for t in exchanges[1].tool_calls] == ["apply_patch"]
    # the turn_aborted event Codex writes itself is no prompt, nor a message at all
    assert not any("turn_aborted" in m.text for m in conversation.messages)
    assert [m.source_id for m in conversation.messages if m.kind == "prompt"] == [
        f"{DESKTOP}:2",
        f"{DESKTOP}:7",
        f"{DESKTOP}:12",
    ]


@pytest.mark.parametrize("event_first", [False, True])
def test_prompt_written_twice_is_one_prompt(tmp_path: Path, event_first: bool) -> None:
    item = {
        "timestamp": "2026-05-11T08:27:17Z",
        "type": "response_item",
        "payload": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "show tools"}],
        },
    }
    event = {
        "timestamp": "2026-05-11T08:27:17Z",
        "type": "event_msg",
        "payload": {"type": "user_message", "message": "show tools", "images": []},
    }
    reply = {
        "timestamp": "2026-05-11T08:27:30Z",
        "type": "response_item",
        "payload": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Available tools: ..."}],
        },
    }
    header = {"timestamp": "2026-05-11T08:26:55Z", "type": "session_meta", "payload": {"id": "s"}}
    pair = [event, item] if event_first else [item, event]
    # the same words typed again after the reply are a new prompt
    lines = [header, *pair, reply, *pair, reply]
    path = tmp_path / "rollout.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (conversation,), _ = parse(path)
    exchanges = split_exchanges(conversation)
    assert [e.prompt for e in exchanges] == ["show tools", "show tools"]
    assert [e.source_id for e in exchanges] == ["s:2", "s:5"]  # the first of each pair


@pytest.mark.parametrize(
    "text",
    [
        "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>",
        "# AGENTS.md instructions for /w\n\n<INSTRUCTIONS>\nRun tests.\n</INSTRUCTIONS>",
        "<turn_aborted>\nThe user interrupted the previous turn.\n</turn_aborted>",
        "<user_shell_command>\n<command>ls</command>\n</user_shell_command>",
        "<skill>\n<name>brainstorming</name>\n</skill>",
        "<subagent_notification>\n{}\n</subagent_notification>",
    ],
)
def test_what_codex_writes_as_the_user_is_no_prompt(tmp_path: Path, text: str) -> None:
    content = [{"type": "input_text", "text": text}]
    lines = [
        {"timestamp": "2026-05-11T08:26:55Z", "type": "session_meta", "payload": {"id": "s"}},
        {
            "timestamp": "2026-05-11T08:27:00Z",
            "type": "response_item",
            "payload": {"type": "message", "role": "user", "content": content},
        },
        {
            "timestamp": "2026-05-11T08:27:00Z",
            "type": "event_msg",
            "payload": {"type": "user_message", "message": text},
        },
    ]
    path = tmp_path / "rollout.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (conversation,), _ = parse(path)
    assert [m.kind for m in conversation.messages] == ["meta"]
