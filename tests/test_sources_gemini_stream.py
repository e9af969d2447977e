"""Gemini CLI `-o stream-json` output: detected as its own format (fault 8 of issue 12: it
was read as generic, 138 "no known role" problems and every streamed chunk a message)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memdistill.api import Memory
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources import detect_parser
from memdistill.sources.gemini_stream import GeminiStreamParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(GeminiStreamParser().parse(path, problems.append)), problems


@pytest.fixture
def stream(fixtures: Path) -> Path:
    return fixtures / "sources" / "gemini-stream-json.jsonl"


def test_detected_as_stream_json_not_generic(stream: Path) -> None:
    parser = detect_parser(stream)
    assert parser.name == "gemini-stream"
    problems: list[Problem] = []
    conversations = list(parser.parse(stream, problems.append))
    assert problems == []
    assert [len(split_exchanges(c)) for c in conversations] == [1, 1]


def test_chunks_of_one_reply_are_one_message(stream: Path) -> None:
    (first, second), _ = parse(stream)
    assert first.source_id == "e2a7c4f9-1b36-4d58-9a0e-6c8f2b4d7a13"
    assert not first.id_from_file
    assert [(m.kind, m.text) for m in first.messages] == [
        ("prompt", "what does the retry decorator in src/net.py do?"),
        ("tool_call", '{"file_path": "src/net.py"}'),
        (
            "text",
            "`retry` wraps a call and retries it up to `attempts` times on `ConnectionError`, "
            "sleeping `backoff * 2**n` seconds between tries.",
        ),
        ("tool_call", "pytest -q tests/test_net.py"),
        ("tool_result", "error: Command exited with code 1: 1 failed, 3 passed"),
        ("text", "One test fails: `test_gives_up` expects 3 attempts but the default is 5."),
    ]
    lines = [m.line for m in first.messages]
    assert lines == [2, 3, 5, 9, 10, 11]  # a reply's id is its first chunk's line
    assert [m.source_id for m in first.messages] == [f"{first.source_id}:L{n}" for n in lines]
    calls = [m.tool for m in first.messages if m.tool]
    assert [(c.name, c.call_id) for c in calls] == [
        ("read_file", "read_file-1775755206402-b3e9c1a7"),
        ("run_shell_command", "run_shell_command-1775755210031-4d8a2f6c"),
    ]
    (exchange,) = split_exchanges(second)
    assert exchange.prompt == "set the default attempts to 3"
    assert exchange.reply == "Done: `retry` now defaults to 3 attempts."
    meta = [m.text for m in second.messages if m.kind == "meta"]
    assert meta == ["Loop detected, stopping execution"]


def test_a_reply_still_streaming_keeps_its_id(stream: Path, tmp_path: Path) -> None:
    lines = stream.read_text().splitlines(keepends=True)
    partial = tmp_path / stream.name
    partial.write_text("".join(lines[:6]))  # two of the four chunks of the first reply
    (conversation,), _ = parse(partial)
    reply = conversation.messages[-1]
    assert (reply.source_id, reply.text) == (
        "e2a7c4f9-1b36-4d58-9a0e-6c8f2b4d7a13:L5",
        "`retry` wraps a call and retries it up to `attempts` times",
    )


def test_events_before_init_and_odd_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    events = [
        {"type": "message", "timestamp": "2026-04-09T17:20:03Z", "role": "user", "content": "hi"},
        {"type": "message", "role": "assistant", "content": "Hel", "delta": True},
        {"type": "heartbeat", "timestamp": "2026-04-09T17:20:04Z"},
        {"type": "heartbeat", "timestamp": "2026-04-09T17:20:05Z"},
        {"type": "message", "role": "assistant", "content": "lo!", "delta": True},
        {"type": "message", "role": "robot", "content": "?"},
        {"type": "tool_use", "timestamp": "2026-04-09T17:20:07Z", "tool_id": "x"},
    ]
    lines = [json.dumps(e) for e in events]
    lines.insert(4, "Loaded cached credentials.")  # what the CLI printed among the events
    path.write_text("\n".join(lines) + "\n")
    (conversation,), problems = parse(path)
    # no init: the file is the run, named after it and scoped by its path
    assert conversation.source_id == "run" and conversation.id_from_file
    assert [(m.kind, m.text) for m in conversation.messages] == [
        ("prompt", "hi"),
        ("text", "Hello!"),
    ]
    assert [(p.line, p.message.split(";")[0].split(",")[0]) for p in problems] == [
        (3, "unknown event type 'heartbeat'"),  # reported once, not for line 4 again
        (5, "malformed JSON line"),
        (7, "message with unknown role 'robot'"),
        (8, "tool_use without a `tool_name`"),
    ]


def test_ingested_once_per_reply(stream: Path, tmp_path: Path) -> None:
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(stream)
        assert report.problems == [] and report.exchanges_added == 2
        texts = [
            row[0]
            for row in memory.store.db.execute(
                "SELECT text FROM messages WHERE role = 'assistant' AND kind = 'text'"
            )
        ]
    assert len(texts) == 3  # nine chunks, three replies
