"""The generic / OpenAI-style message parser: JSON and JSONL shapes, grouping, odd records."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.generic import GenericParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(GenericParser().parse(path, problems.append)), problems


def test_interleaved_jsonl_grouped_by_conversation(fixtures: Path) -> None:
    (support, ops), problems = parse(fixtures / "sources" / "generic-interleaved.jsonl")
    assert problems == []
    assert (support.source_id, support.project) == ("support-118", "invoice-app")
    assert (ops.source_id, ops.project) == ("ops-7", "ops")
    assert [m.line for m in support.messages] == [1, 2, 4, 6, 7, 7, 8, 9]
    assert [m.source_id for m in support.messages] == [
        "m1",
        "m2",
        "m3",
        "m4",
        "m5",
        "m5#tool0",
        "m6",
        "m7",
    ]
    assert [m.kind for m in support.messages] == [
        "meta",
        "prompt",
        "text",
        "prompt",
        "text",
        "tool_call",
        "tool_result",
        "text",
    ]
    assert [len(split_exchanges(c)) for c in (support, ops)] == [2, 1]
    call = support.messages[5].tool
    assert call is not None
    assert (call.name, call.input, call.call_id) == (
        "refund_charge",
        {"charge_id": "ch_3Oq2", "amount_cents": 4999},
        "call_rf01",
    )
    # ISO with an offset, epoch seconds and epoch milliseconds all land in UTC
    assert support.messages[2].timestamp == datetime(2024, 3, 2, 7, 0, 9, tzinfo=UTC)
    assert ops.messages[0].timestamp == datetime(2024, 3, 2, 8, 0, tzinfo=UTC)
    assert ops.messages[1].timestamp == datetime(2024, 3, 2, 8, 0, 12, tzinfo=UTC)
    assert [m.source_id for m in ops.messages] == ["ops-7:0", "ops-7:1"]


def test_openai_chat_list(fixtures: Path) -> None:
    (conversation,), problems = parse(fixtures / "sources" / "openai-chat.json")
    assert problems == []
    assert conversation.source_id == "openai-chat"  # from the file name
    assert [(m.source_id, m.kind) for m in conversation.messages] == [
        ("openai-chat:0", "meta"),
        ("openai-chat:1", "prompt"),
        ("openai-chat:2#tool0", "tool_call"),
        ("openai-chat:2#tool1", "tool_call"),
        ("openai-chat:3", "tool_result"),
        ("openai-chat:4", "tool_result"),
        ("openai-chat:5", "text"),
        ("openai-chat:6", "prompt"),
        ("openai-chat:7", "text"),
    ]
    assert conversation.messages[7].text == "Show the ones in tax.py\n[image]"
    assert len(split_exchanges(conversation)) == 2


def test_messages_object(fixtures: Path) -> None:
    (conversation,), _ = parse(fixtures / "sources" / "generic-conversation.json")
    assert (conversation.source_id, conversation.title, conversation.project) == (
        "notes-42",
        "Rounding policy",
        "invoice-app",
    )
    assert [(m.source_id, m.line) for m in conversation.messages] == [
        ("notes-42:0", 1),
        ("notes-42:1", 2),
    ]


def test_conversation_lists_and_fine_tuning_lines(tmp_path: Path) -> None:
    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    listing = tmp_path / "many.json"
    listing.write_text(json.dumps([{"id": 7, "messages": chat}, {"messages": chat}]))
    assert [c.source_id for c in parse(listing)[0]] == ["7", "many:2"]
    tuning = tmp_path / "train.jsonl"
    tuning.write_text("\n".join(json.dumps({"messages": chat}) for _ in range(3)) + "\n")
    assert [c.source_id for c in parse(tuning)[0]] == ["train:1", "train:2", "train:3"]


def test_jsonl_saved_as_json(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text('{"role": "user", "content": "a"}\n{"role": "assistant", "content": "b"}\n')
    (conversation,), _ = parse(path)
    assert [m.kind for m in conversation.messages] == ["prompt", "text"]


def test_grown_jsonl_keeps_ids(fixtures: Path, tmp_path: Path) -> None:
    source = fixtures / "sources" / "generic-interleaved.jsonl"
    lines = source.read_text().splitlines(keepends=True)
    full = {c.source_id: [m.source_id for m in c.messages] for c in parse(source)[0]}
    for cut in range(1, len(lines)):
        partial = tmp_path / source.name
        partial.write_text("".join(lines[:cut]))
        for conversation in parse(partial)[0]:
            ids = [m.source_id for m in conversation.messages]
            assert ids == full[conversation.source_id][: len(ids)]


def test_odd_records_become_problems(tmp_path: Path) -> None:
    lines = [
        json.dumps({"role": "user", "content": "first"}),
        json.dumps({"content": "no role"}),
        json.dumps({"role": "narrator", "content": "unknown role"}),
        json.dumps("a string"),
        json.dumps({"role": "user", "content": {"weird": True}, "timestamp": "not a date"}),
        json.dumps(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"function": {}},
                    "x",
                    {"function": {"name": "f", "arguments": "[1]"}},
                ],
            }
        ),
        json.dumps({"role": "assistant", "content": "ok", "timestamp": True}),
        '{"role": "user", "content": "cut',
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(lines))
    (conversation,), problems = parse(path)
    assert [p.line for p in problems] == [2, 3, 4, 5, 6, 6, 7, 8]
    assert [(m.source_id, m.kind, m.text) for m in conversation.messages] == [
        ("odd:0", "prompt", "first"),
        # ids count the conversation's JSON objects (the bare string on line 4 is not one)
        ("odd:4#tool2", "tool_call", '{"arguments": [1]}'),
        ("odd:5", "text", "ok"),
    ]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('[{"role": "user", "content": "cut', "line 1 column"),
        ("42", "expected a list of messages"),
        ("", "not valid JSON"),
    ],
)
def test_unreadable_json_raises(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "chat.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=match):
        parse(path)


def test_offsets_are_normalised_to_utc(tmp_path: Path) -> None:
    path = tmp_path / "tz.jsonl"
    path.write_text(
        json.dumps({"role": "user", "content": "x", "timestamp": "2024-01-01T12:00:00-05:00"})
        + "\n"
    )
    stamp = parse(path)[0][0].messages[0].timestamp
    assert stamp == datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-5)))
    assert stamp is not None and stamp.tzinfo == UTC


def test_a_time_with_no_utc_equivalent_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """Found reviewing the HTTP service: year 1 at +05:00 overflowed in astimezone."""
    path = tmp_path / "tz.jsonl"
    lines = [{"role": "user", "content": "x", "timestamp": "0001-01-01T00:00+05:00"},
             {"role": "assistant", "content": "y"}]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    conversations, problems = parse(path)
    assert conversations[0].messages[0].timestamp is None
    assert any("unreadable timestamp" in p.message for p in problems)


def _storable(text: str) -> bool:
    """What SQLite needs: text that encodes as UTF-8 (a lone surrogate does not)."""
    try:
        sqlite3.connect(":memory:").execute("SELECT ?", (text,)).fetchone()
    except UnicodeEncodeError:
        return False
    return True


def test_lone_surrogates_become_replacement_characters(tmp_path: Path) -> None:
    # json.dumps escapes a lone surrogate as "\ud83d", as a JavaScript writer does when it
    # cuts an emoji in half; a whole emoji escaped as a pair must stay whole.
    cut = "tool output cut here: \ud83d and a low one \udc00 alone"
    arguments = json.dumps({"command": "echo \ud83d"})  # escaped twice: a JSON string
    records = [
        {"role": "user", "content": cut, "conversation_id": "c"},
        {
            "role": "assistant",
            "content": "ok \U0001f600 done",
            "conversation_id": "c",
            "tool_calls": [{"id": "t", "function": {"name": "run", "arguments": arguments}}],
        },
    ]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert "\\ud83d" in path.read_text() and "\\ud83d\\ude00" in path.read_text()
    as_json = tmp_path / "chat.json"
    as_json.write_text(json.dumps({"messages": records}))
    assert not _storable(cut)
    for source in (path, as_json):
        (conversation,), problems = parse(source)
        assert problems == []
        texts = [m.text for m in conversation.messages]
        texts += [
            json.dumps(m.tool.input, ensure_ascii=False) for m in conversation.messages if m.tool
        ]
        assert all(_storable(text) for text in texts)
        assert texts[0] == "tool output cut here: \ufffd and a low one \ufffd alone"
        assert "ok \U0001f600 done" in texts
        assert any("echo \ufffd" in text for text in texts)
