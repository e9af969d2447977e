"""The parser registry: names, lookup, detection, and every parser's behaviour on garbage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memdistill.cli import app
from memdistill.errors import ConfigError, FormatError
from memdistill.models import Problem
from memdistill.sources import PARSERS, detect_parser, get_parser, parser_names
from memdistill.sources.base import HEAD_BYTES, Parser

CLAUDE_2_1 = "claude-code-2.1/3b7e5c1a-9d42-4f6e-8a1b-2c9d7e4f6a10"  # a session and its sub-agents
FIXTURE_FORMATS = {
    "claude-code-session.jsonl": "claude-code",
    "claude-code-agent-a7e3c91.jsonl": "claude-code",
    "claude-console-session.txt": "claude-console",
    "chatgpt-conversations.json": "chatgpt",
    "rollout-2025-10-29T09-14-00-0199a6c1-7d2e-7b30-9f4e-3c8a1d5e6f70.jsonl": "codex",
    "rollout-2025-05-20T10-01-44-5c3e9b7a-1f42-4d8e-a0b6-2e7d9c4f1a83.jsonl": "codex",
    "generic-interleaved.jsonl": "generic",
    "generic-conversation.json": "generic",
    "openai-chat.json": "generic",
    "locomo-mini.json": "locomo",
    "claude-console-linux.txt": "claude-console",
    "rollout-2026-03-02T10-15-00-019c5a2e-4b1f-7d30-9e8a-6f2b1c3d4e5f.jsonl": "codex",
    f"{CLAUDE_2_1}.jsonl": "claude-code",
    f"{CLAUDE_2_1}/subagents/agent-a4c81f2.jsonl": "claude-code",
    f"{CLAUDE_2_1}/subagents/agent-acompact-7d2e1f.jsonl": "claude-code",
    "aider-chat-history.md": "aider",
    "session-2026-03-04T09-12-4f1c2a9b.json": "gemini",
    "session-2026-05-02T14-30-9d3e7b21.jsonl": "gemini",
    "logs.json": "gemini",
    "gemini-stream-json.jsonl": "gemini-stream",
    "sharegpt-conversations.json": "sharegpt",
    "sharegpt-conversations.jsonl": "sharegpt",
    "specstory-claude-code.md": "specstory",
    "specstory-cursor.md": "specstory",
    "specstory-cursor-2025-04.md": "specstory",
    "specstory-cursor-2025-10.md": "specstory",
}

REAL_FORMATS = {
    "claude-code-session.jsonl": "claude-code",
    "claude-code-subagent.jsonl": "claude-code",
    "claude-code-console-export.md": "claude-console",
    "chatgpt-export-sample.json": "chatgpt",
    "locomo-dev.json": "locomo",
    "real/gemini/logs.json": "gemini",
    "real/gemini/session-2025-12-01T21-45-5b959dae.json": "gemini",
    "real/gemini/session-2026-01-16T11-01-file-ops-37b7abef.json": "gemini",
}


def test_names_in_priority_order() -> None:
    assert parser_names() == [
        "claude-code",
        "codex",
        "gemini",
        "gemini-stream",
        "chatgpt",
        "locomo",
        "sharegpt",
        "specstory",
        "aider",
        "claude-console",
        "generic",
    ]
    for name, parser_class in PARSERS.items():
        parser = get_parser(name)
        assert isinstance(parser, parser_class) and isinstance(parser, Parser)
        assert parser.name == name and parser.description and parser.where


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        get_parser("slack")
    assert "'slack'" in str(caught.value)
    assert all(name in str(caught.value) for name in parser_names())


def test_every_fixture_is_covered(fixtures: Path) -> None:
    sources = fixtures / "sources"
    files = [str(p.relative_to(sources)) for p in sources.rglob("*") if p.is_file()]
    assert sorted(files) == sorted(FIXTURE_FORMATS)


@pytest.mark.parametrize(("name", "expected"), sorted(FIXTURE_FORMATS.items()))
def test_detects_fixtures(fixtures: Path, name: str, expected: str) -> None:
    path = fixtures / "sources" / name
    parser = detect_parser(path)
    assert parser.name == expected
    problems: list[Problem] = []
    assert list(parser.parse(path, problems.append))
    assert problems == []


@pytest.mark.parametrize(("name", "expected"), sorted(REAL_FORMATS.items()))
def test_detects_real_samples(shared_data: Path, name: str, expected: str) -> None:
    assert detect_parser(shared_data / name).name == expected


def test_detection_needs_only_the_head(fixtures: Path, tmp_path: Path) -> None:
    # a file far longer than the head, cut mid-line at HEAD_BYTES, is still recognised
    path = tmp_path / "big.jsonl"
    line = (fixtures / "sources" / "generic-interleaved.jsonl").read_text().splitlines()[1]
    path.write_text((line + "\n") * (2 * HEAD_BYTES // len(line)))
    assert detect_parser(path).name == "generic"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.md", "# Meeting notes\n\n- ship it\n"),
        ("data.json", '{"rows": [1, 2, 3]}'),
        ("empty.jsonl", ""),
        ("image.png", "\x89PNG\r\n\x1a\n"),
    ],
)
def test_unknown_format_says_what_to_do(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FormatError) as caught:
        detect_parser(path)
    message = str(caught.value)
    assert str(path) in message and "unknown format" in message and "--format" in message
    assert all(known in message for known in parser_names())


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="cannot read"):
        detect_parser(tmp_path / "nope.jsonl")


GARBAGE = {
    "binary": b"\x00\xff\xfe\x89PNG\r\n\x1a\n\x00garbage\x9c",
    "empty": b"",
    "truncated-object": b'{"type": "user", "message": {"content": "hal',
    "truncated-list": b'[{"mapping": {"a": {"parent": nu',
    "scalar": b"42",
    "null": b"null",
    "list-of-scalars": b'[1, "two", null, 3.5]',
    "wrong-shapes": b'{"type": 5, "payload": [], "role": {}, "content": 7, "mapping": "x", '
    b'"conversation": [], "messages": "no", "current_node": 1, "qa": 2}\n',
    "jsonl-wrong-shapes": b'{"type": "response_item", "payload": {"type": "message", "role": 3}}\n'
    b'{"type": "assistant", "message": {"content": [{"type": "tool_use", "input": "x"}]}}\n'
    b'{"role": "assistant", "tool_calls": {"a": 1}}\n[]\n',
    "unhashable-values": b'{"type": ["user"], "role": ["x"], "content": {}, '
    b'"messages": [{"role": []}], '
    b'"mapping": {"a": {"parent": ["b"], "message": {"author": {"role": []}, "recipient": [], '
    b'"content": {"content_type": [], "parts": [[]]}}}}, "current_node": ["a"], '
    b'"conversation": {"speaker_a": [], "session_1": [{"speaker": ["x"], "dia_id": "D1:1", '
    b'"text": "t"}], "session_1_date_time": []}, "payload": {"type": ["message"]}}\n'
    b'{"type": "response_item", "payload": {"type": ["message"], "role": ["user"]}}\n',
    "markers-only": "> \n⏺ \n  ⎿ \n✻ Thinking…\n".encode(),
    "deep-json": b'{"role": "user", "content": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
    "deep-content": b'{"role": "user", "content": ' + b"[" * 400 + b"]" * 400 + b"}\n",
}


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".txt"])
@pytest.mark.parametrize("garbage", sorted(GARBAGE))
@pytest.mark.parametrize("name", sorted(PARSERS))
def test_parsers_survive_garbage(tmp_path: Path, name: str, garbage: str, suffix: str) -> None:
    """Odd input ends in conversations, Problems or a FormatError: never a raw exception."""
    path = tmp_path / f"input{suffix}"
    path.write_bytes(GARBAGE[garbage])
    parser = get_parser(name)
    problems: list[Problem] = []
    try:
        conversations = list(parser.parse(path, problems.append))
    except FormatError as error:
        assert str(path) in str(error)
        return
    for conversation in conversations:
        assert conversation.source_id
        for message in conversation.messages:
            assert isinstance(message.text, str) and message.source_id
    assert all(isinstance(p, Problem) and p.path == str(path) and p.message for p in problems)
    parser.sniff(path, GARBAGE[garbage].decode("utf-8", errors="replace"))


def test_import_has_no_side_effects() -> None:
    code = (
        "import sys, memdistill.sources as s; print(len(s.parser_names()));"
        "print(sorted(m for m in sys.modules if m.startswith('memdistill.sources.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    # the names cost no parser module: the CLI's help lists them at start-up
    assert result.stdout == "11\n['memdistill.sources.base']\n" and result.stderr == ""


def test_every_format_is_in_the_readme_table() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("## Formats", 1)[1].split("\n### ", 1)[0]
    rows = {
        line.split("|")[1].strip().strip("`")
        for line in table.splitlines()
        if line.startswith("| `")
    }
    assert rows == set(parser_names())
    for name in parser_names():
        where = get_parser(name).where
        assert where, name
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.count("|") == 4 and row.split("|")[3].strip(), f"{name}: no 'where' in README"


def test_formats_command_lists_every_format_with_where() -> None:
    result = CliRunner().invoke(app, ["formats", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert list(listed) == parser_names()
    assert all(entry["where"] for entry in listed.values())
    help_text = CliRunner().invoke(app, ["ingest", "--help"]).output
    assert all(name in " ".join(help_text.split()) for name in parser_names())


def test_folder_ingest_finds_agent_logs_under_hidden_names(fixtures: Path, tmp_path: Path) -> None:
    """A project folder holds aider's and SpecStory's logs under dot names; other hidden
    paths (.git, .venv) stay skipped."""
    from memdistill.api import Memory

    project = tmp_path / "shop"
    (project / ".specstory" / "history").mkdir(parents=True)
    (project / ".git").mkdir()
    aider = (fixtures / "sources" / "aider-chat-history.md").read_text()
    (project / ".aider.chat.history.md").write_text(aider)
    (project / ".git" / "COMMIT_NOTES.md").write_text(aider)
    specstory = fixtures / "sources" / "specstory-cursor.md"
    (project / ".specstory" / "history" / "2025-12-09_16-41Z-rate-limit.md").write_text(
        specstory.read_text()
    )
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(project)
        assert (report.files, report.problems) == (2, [])
        assert report.exchanges_added == 4 + 2  # aider's four, SpecStory's two
        projects = {row[0] for row in memory.store.db.execute("SELECT project FROM exchanges")}
    assert projects == {str(project.resolve())}


NEW_FORMATS = {"aider", "gemini", "gemini-stream", "sharegpt", "specstory"}


def test_new_formats_take_no_other_formats_file(shared_data: Path, fixtures: Path) -> None:
    """Every real sample and fixture of the older formats is still detected as before: the
    registry order puts specific sniffs first, and the new ones claim nothing else."""
    for folder, expected in (("claude-code", "claude-code"), ("codex", "codex")):
        for path in sorted((shared_data / "real" / folder).rglob("*.jsonl")):
            assert detect_parser(path).name == expected, path
    for path in sorted((shared_data / "real" / "claude-console").glob("*")):
        try:
            name = detect_parser(path).name
        except FormatError:
            continue  # Claude Code's Linux console glyphs: another part of issue 12
        assert name not in NEW_FORMATS, path
    for name, expected in FIXTURE_FORMATS.items():
        if expected not in NEW_FORMATS:
            assert detect_parser(fixtures / "sources" / name).name == expected
