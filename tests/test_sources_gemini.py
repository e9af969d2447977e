"""The Gemini CLI session parser: session-*.json, session-*.jsonl, logs.json, and the real
samples; and a whole ~/.gemini/tmp ingested without any prompt indexed twice."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from memdistill.api import Memory
from memdistill.distill.files import extract_files
from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources import detect_parser
from memdistill.sources.gemini import GeminiParser

LEGACY = "session-2026-03-04T09-12-4f1c2a9b.json"
JSONL = "session-2026-05-02T14-30-9d3e7b21.jsonl"


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(GeminiParser().parse(path, problems.append)), problems


def test_legacy_session_file(fixtures: Path) -> None:
    (conversation,), problems = parse(fixtures / "sources" / LEGACY)
    assert problems == []
    assert conversation.source_id == "4f1c2a9b-6e0d-4c57-9a1e-2d7b58c3f019"
    asked, fix = split_exchanges(conversation)
    assert asked.prompt == "why does `npm test` hang on CI but not locally?"
    assert asked.reply.startswith("The suite passes, but Jest waits on the open database pool")
    assert [
        (t.name, t.input.get("command") or t.input.get("file_path")) for t in asked.tool_calls
    ] == [
        ("run_shell_command", "npm test -- --runInBand"),
        ("read_file", "src/db.js"),
    ]
    thinking = [m.text for m in asked.messages if m.kind == "thinking"]
    assert thinking == [
        "Reproducing the Hang\nI'll run the suite serially first to see whether Jest reports "
        "open handles."
    ]
    # `/stats` and the CLI's info line stay in the first exchange as meta
    assert [m.text for m in asked.messages if m.kind == "meta"] == [
        "/stats",
        "Session stats: 3 requests, 28,322 input tokens.",
    ]
    assert fix.prompt == "add a global teardown that closes the pool"
    results = [m.text for m in fix.messages if m.kind == "tool_result"]
    assert results == [
        "Successfully created and wrote to new file: /home/lee/shop/test/teardown.js.",
        "Failed to edit, 0 occurrences found for old_string in /home/lee/shop/jest.config.js.",
    ]
    assert ("/home/lee/shop/test/teardown.js", "created") in {
        (f.path, f.action) for f in extract_files(fix)
    }
    ids = [m.source_id for m in conversation.messages]
    assert ids[:3] == [
        "6b0c1f9e-3d52-4a8e-b7f1-0c9d2e4a6b13",
        "1e7a5c2d-9b44-4f06-8d3a-5c2e7f9b0a61#thought0",
        "1e7a5c2d-9b44-4f06-8d3a-5c2e7f9b0a61#tool0",
    ]
    assert len(ids) == len(set(ids))


def test_jsonl_session_replays_updates_and_rewinds(fixtures: Path) -> None:
    (conversation,), problems = parse(fixtures / "sources" / JSONL)
    assert problems == []
    assert conversation.source_id == "9d3e7b21-4c6a-4f18-b2e9-5a0d7c3f8e16"
    assert conversation.title == "Rename parseDate in src/dates.ts"  # from a later $set
    todos, rename = split_exchanges(conversation)
    # the prompt rewound away ("rename parseDate ... everywhere") and its reply are gone
    assert [todos.prompt, rename.prompt] == [
        "list the TODOs in src/",
        "only rename it in src/dates.ts",
    ]
    # a message appended again when its tool call finished: the last copy, in the first's place
    (search,) = todos.tool_calls
    assert search.name == "search_file_content"
    result = next(m for m in todos.messages if m.kind == "tool_result")
    assert result.text.startswith('Found 3 matches for pattern "TODO" in path "src"')
    assert result.line == 4  # where the record first appeared
    assert todos.reply.startswith("There are 3 TODOs")
    assert rename.reply == "Renamed `parseDate` to `parseIsoDate` in `src/dates.ts`."
    assert ("src/dates.ts", "edited") in {(f.path, f.action) for f in extract_files(rename)}


def test_jsonl_bad_lines_are_reported_and_skipped(fixtures: Path, tmp_path: Path) -> None:
    lines = (fixtures / "sources" / JSONL).read_text().splitlines()
    lines.insert(3, '{"id": "broken", "type": "gemini", "content": "cut of')
    lines.insert(5, '{"what": "not a session record"}')
    path = tmp_path / JSONL
    path.write_text("\n".join(lines) + "\n")
    (conversation,), problems = parse(path)
    assert [(p.path, p.line) for p in problems] == [(str(path), 4), (str(path), 6)]
    assert "malformed JSON line" in problems[0].message
    assert [e.prompt for e in split_exchanges(conversation)] == [
        "list the TODOs in src/",
        "only rename it in src/dates.ts",
    ]


def test_legacy_file_carried_over_into_jsonl_is_read_once(fixtures: Path, tmp_path: Path) -> None:
    legacy = tmp_path / LEGACY
    shutil.copy(fixtures / "sources" / LEGACY, legacy)
    assert len(parse(legacy)[0]) == 1
    legacy.with_suffix(".jsonl").write_text((fixtures / "sources" / JSONL).read_text())
    assert parse(legacy) == ([], [])  # the .jsonl beside it is the session now


def test_logs_give_only_sessions_no_session_file_records(fixtures: Path, tmp_path: Path) -> None:
    # in the fixtures folder, session 4f1c2a9b has its session file beside logs.json
    (old,), problems = parse(fixtures / "sources" / "logs.json")
    assert problems == []
    assert old.source_id == "0be51f7c-2d84-4a19-9c6e-7f3a1d5b8e20"
    assert [(m.kind, m.text, m.source_id) for m in old.messages] == [
        ("prompt", "how do I make eslint ignore the dist folder?", f"{old.source_id}:log0"),
        ("meta", "/quit", f"{old.source_id}:log1"),
    ]
    alone = tmp_path / "logs.json"
    shutil.copy(fixtures / "sources" / "logs.json", alone)
    assert [len(c.messages) for c in parse(alone)[0]] == [2, 3]


def test_project_from_the_folder_marker(fixtures: Path, tmp_path: Path) -> None:
    chats = tmp_path / "shop" / "chats"
    chats.mkdir(parents=True)
    (tmp_path / "shop" / ".project_root").write_text("/home/lee/shop\n")
    shutil.copy(fixtures / "sources" / JSONL, chats / JSONL)
    assert parse(chats / JSONL)[0][0].project == "/home/lee/shop"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"sessionId": "x", "projectHash": "y", "messages": {"not": "a list"}}', "expected"),
        ('{"projectHash": "y", "messages": []}', "sessionId"),
        (
            '{"projectHash": "y", "messages": [{"id": "m", "type": "user", "content": "hi"}]}',
            "sessionId",
        ),
    ],
)
def test_unreadable_sessions_are_format_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "session-2026-01-01T00-00-deadbeef.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=message) as caught:
        parse(path)
    assert str(path) in str(caught.value)


def test_odd_records_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    record = {
        "sessionId": "s1",
        "projectHash": "h",
        "messages": [
            {"type": "user", "content": "no id"},
            {"id": "m1", "type": "user", "content": "hello", "timestamp": "soon"},
            {"id": "m2", "type": "planet", "content": "?"},
            {"id": "m3", "type": "gemini", "content": "hi", "toolCalls": [{"args": {}}]},
        ],
    }
    path.write_text(json.dumps(record))
    (conversation,), problems = parse(path)
    assert [(p.line, p.message) for p in problems] == [
        (1, "message record without an `id`; skipped"),
        (2, "unreadable timestamp 'soon'; left empty"),
        (3, "message of unknown type 'planet'; skipped"),
        (4, "tool call without a `name`; skipped"),
    ]
    assert [(m.kind, m.text) for m in conversation.messages] == [
        ("prompt", "hello"),
        ("text", "hi"),
    ]


def test_real_session_samples(shared_data: Path) -> None:
    folder = shared_data / "real" / "gemini"
    (first,), problems = parse(folder / "session-2025-12-01T21-45-5b959dae.json")
    assert problems == []
    exchanges = split_exchanges(first)
    assert [e.prompt for e in exchanges] == [
        "hi",
        "Explain what this is",
        "Make a copy of lead_memory.txt name it as lead_gemini.txt and optimize this "
        "instructions to be shorter, consice but without loosing functionality",
    ]
    assert all(e.reply for e in exchanges)
    base = "/Users/Jane_Smith/Documents/projects/epm-cdme/assistants/"
    calls = [
        [(t.name, t.input.get("file_path") or t.input.get("dir_path")) for t in e.tool_calls]
        for e in exchanges
    ]
    assert calls == [
        [],
        [("list_directory", base)]
        + [
            ("read_file", base + n)
            for n in ("lead.txt", "lead_memory.txt", "lead_memory_v1.txt", "lead_memor_v2.txt")
        ],
        [
            ("read_file", base + "lead_memory.txt"),
            ("write_file", base + "lead_gemini.txt"),
            ("read_file", base + "lead_gemini.txt"),
            ("replace", base + "lead_gemini.txt"),
            ("read_file", base + "lead_gemini.txt"),
        ],
    ]
    assert [Counter(m.kind for m in e.messages)["tool_result"] for e in exchanges] == [0, 5, 5]
    assert (base + "lead_gemini.txt", "created") in {
        (f.path, f.action) for f in extract_files(exchanges[2])
    }

    (second,), problems = parse(folder / "session-2026-01-16T11-01-file-ops-37b7abef.json")
    assert problems == []
    exchanges = split_exchanges(second)
    assert [e.prompt for e in exchanges] == [
        "show tools",
        "expore repository and figure out issues. focus on adaptability and security",
        "create hello.md file",
        "add 5 lines of random text",
        "remove 2 and 3 line",
    ]
    assert all(e.reply for e in exchanges)
    assert [[t.name for t in e.tool_calls] for e in exchanges][2:] == [
        ["write_file"],
        ["read_file", "write_file"],
        ["read_file", "write_file"],
    ]
    assert len(exchanges[1].tool_calls) == 9


def test_real_logs_sample(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "real" / "gemini"
    assert detect_parser(folder / "logs.json").name == "gemini"
    # beside it, the session file of 5b959dae holds those prompts with their replies
    assert parse(folder / "logs.json") == ([], [])
    alone = tmp_path / "logs.json"
    shutil.copy(folder / "logs.json", alone)
    (conversation,), problems = parse(alone)
    assert problems == []
    assert [m.text for m in conversation.messages] == [
        "hi",
        "Explain what this is",
        "Make a copy of lead_memory.txt name it as lead_gemini.txt and optimize this "
        "instructions to be shorter, consice but without loosing functionality",
    ]


def test_ingesting_the_whole_gemini_folder_indexes_each_prompt_once(
    fixtures: Path, tmp_path: Path
) -> None:
    """~/.gemini/tmp as the CLI leaves it: logs.json and chats/ side by side per project."""
    tmp = tmp_path / "home" / ".gemini" / "tmp"
    project = tmp / "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2"
    (project / "chats").mkdir(parents=True)
    for name in (LEGACY, JSONL):
        shutil.copy(fixtures / "sources" / name, project / "chats" / name)
    shutil.copy(fixtures / "sources" / "logs.json", project / "logs.json")
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(tmp)
        assert report.problems == [] and report.files == 3
        prompts = [
            row[0]
            for row in memory.store.db.execute("SELECT text FROM messages WHERE kind = 'prompt'")
        ]
    assert sorted(prompts) == sorted(
        [
            "why does `npm test` hang on CI but not locally?",
            "add a global teardown that closes the pool",
            "list the TODOs in src/",
            "only rename it in src/dates.ts",
            "how do I make eslint ignore the dist folder?",  # only logs.json has this session
        ]
    )
