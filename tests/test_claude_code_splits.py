"""Claude Code 2.1 sessions split as the person typed them (issue 12, faults 1-5; issue 13.5).

The fixture `claude-code-2.1/` is written by the project in the shape of Claude Code 2.1.39
logs (the real ones in ../shared/data/real are pinned in test_real_logs.py): a background
command whose `<task-notification>` arrives later, prompts queued while the agent worked
(handed to the running turn, dequeued into a user line, pulled back and retyped), a local
/clear, a skill call with its expanded text, a summary line of another file, and in
`<session>/subagents/` a real sub-agent and a compaction agent.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memdistill.exchanges import render_verbatim, split_exchanges
from memdistill.models import Conversation, Exchange, Problem
from memdistill.sources.claude_code import ClaudeCodeParser

SESSION = "3b7e5c1a-9d42-4f6e-8a1b-2c9d7e4f6a10"


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(ClaudeCodeParser().parse(path, problems.append)), problems


@pytest.fixture
def folder(fixtures: Path) -> Path:
    return fixtures / "sources" / "claude-code-2.1"


@pytest.fixture
def session(folder: Path) -> Path:
    return folder / f"{SESSION}.jsonl"


def exchanges_of(path: Path) -> list[Exchange]:
    (conversation,), problems = parse(path)
    assert problems == []
    return split_exchanges(conversation)


def test_exchanges_are_the_prompts_typed(session: Path) -> None:
    exchanges = exchanges_of(session)
    assert [e.prompt for e in exchanges] == [
        "Run the invoice tests in the background and fix what fails",
        "also check the discount code path",  # queued, handed to the running turn
        "then commit",  # queued, then sent as a user line: once
        "push it to origin/main",  # "push it too" was pulled back and retyped
        "/changelog round half up fix",  # a skill call, as typed
    ]
    assert all(e.reply for e in exchanges)
    assert [e.source_id for e in exchanges] == [
        "3b7e0001-5c1a-4d2e-9f30-7a6b5c4d0001",  # the /clear lines before the first prompt
        "queued:2026-02-14T09:01:03.331Z",
        "3b7e0015-5c1a-4d2e-9f30-7a6b5c4d0015",
        "queued:2026-02-14T09:03:37.029Z",
        "3b7e001c-5c1a-4d2e-9f30-7a6b5c4d001c",
    ]


def test_task_notification_is_an_event_of_the_running_exchange(session: Path) -> None:
    exchanges = exchanges_of(session)
    (note,) = [m for e in exchanges for m in e.messages if m.kind == "notification"]
    assert note.role == "tool" and note.line == 22
    assert note.text.startswith("<task-notification>\n<task-id>b1f3a9c</task-id>")
    holder = next(e for e in exchanges if note in e.messages)
    assert holder.prompt == "also check the discount code path"
    # the agent's answer to it stays in that exchange, and it is shown and indexed verbatim
    assert "The background run had failed (exit code 1)" in holder.reply
    assert "Notification: <task-notification>\n<task-id>b1f3a9c" in render_verbatim(holder.messages)
    # queued too (line 19), it arrived as the user line: one notification, not two
    assert sum("<task-id>b1f3a9c</task-id>" in m.text for m in holder.messages) == 1


def test_queued_prompt_goes_where_the_agent_received_it(session: Path) -> None:
    first, queued, *_ = exchanges_of(session)
    # enqueued at line 12 while the Read of line 13 ran, removed (handed over) at line 14:
    # that Read and its result belong to the exchange that made them
    assert [m.line for m in first.messages][-2:] == [13, 15]
    prompt = queued.messages[0]
    assert (prompt.kind, prompt.role, prompt.line) == ("prompt", "user", 12)
    assert prompt.timestamp is not None and prompt.timestamp.isoformat().startswith(
        "2026-02-14T09:01:03.331"
    )
    assert queued.messages[1].text.startswith("Looking at the discount path too")


def test_dequeued_popped_and_cancelled_prompts_are_never_doubled(session: Path) -> None:
    (conversation,), _ = parse(session)
    prompts = [m.text for m in conversation.messages if m.kind == "prompt"]
    assert prompts.count("then commit") == 1
    assert "push it too" not in prompts
    assert len(prompts) == len(set(prompts)) == 5


def test_a_prompt_still_queued_when_the_file_ends_is_kept(tmp_path: Path, session: Path) -> None:
    lines = session.read_text().splitlines(keepends=True)
    cut = tmp_path / session.name
    cut.write_text("".join(lines[:32]))  # "push it too" is waiting
    exchanges = exchanges_of(cut)
    assert exchanges[-1].prompt == "push it too"
    assert exchanges[-1].source_id == "queued:2026-02-14T09:03:23.511Z"


def test_ids_stay_when_the_file_grows(tmp_path: Path, session: Path) -> None:
    lines = session.read_text().splitlines(keepends=True)
    full = {m.source_id for m in parse(session)[0][0].messages}
    full_exchanges = [e.source_id for e in exchanges_of(session)]
    in_flux = {
        # "then commit", queued: a prompt until its dequeue's user line is written
        "queued:2026-02-14T09:02:34.698Z",
        # "push it too", waiting until it is pulled back into the input box
        "queued:2026-02-14T09:03:23.511Z",
    }
    for cut in range(4, len(lines)):
        partial = tmp_path / session.name
        partial.write_text("".join(lines[:cut]))
        (conversation,), _ = parse(partial)
        ids = {m.source_id for m in conversation.messages}
        assert ids - full <= in_flux, cut
        exchange_ids = [e.source_id for e in split_exchanges(conversation)]
        settled = [i for i in exchange_ids if i not in in_flux]
        assert settled == full_exchanges[: len(settled)], cut


def test_slash_command_is_the_prompt_and_local_commands_are_chrome(session: Path) -> None:
    (conversation,), _ = parse(session)
    exchanges = split_exchanges(conversation)
    skill = exchanges[-1]
    assert [(m.kind, m.line) for m in skill.messages[:2]] == [("prompt", 40), ("meta", 41)]
    assert skill.messages[1].text.startswith('Add an entry to CHANGELOG.md under "Unreleased"')
    assert skill.reply == 'Added the changelog entry under "Unreleased".'
    assert [t.name for t in skill.tool_calls] == ["Edit"]
    # /clear ran locally (the caveat before it, its stdout after): meta, as it was written
    by_line = {m.line: m for m in conversation.messages}
    assert [by_line[n].kind for n in (4, 5, 6)] == ["meta"] * 3
    assert by_line[5].text.startswith("<command-name>/clear</command-name>")


def test_command_without_caveat_or_output_is_a_prompt(tmp_path: Path) -> None:
    lines = [
        _line("u1", "<command-name>/review</command-name>\n<command-args>PR 12</command-args>"),
        _line("u2", "<command-name>/cost</command-name>"),
        _line("u3", "<local-command-stdout>Total cost: $0.12</local-command-stdout>"),
        _line("u4", "<command-message>init</command-message>\n<command-name>/init</command-name>"),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    (conversation,), _ = parse(path)
    assert [(m.kind, m.text.split("\n")[0]) for m in conversation.messages] == [
        ("prompt", "/review PR 12"),
        ("meta", "<command-name>/cost</command-name>"),
        ("meta", "<local-command-stdout>Total cost: $0.12</local-command-stdout>"),
        ("prompt", "/init"),
    ]


def test_compaction_agent_is_stored_not_split(folder: Path) -> None:
    subagents = folder / SESSION / "subagents"
    (compaction,), _ = parse(subagents / "agent-acompact-7d2e1f.jsonl")
    assert compaction.source_id == f"{SESSION}:agent-acompact-7d2e1f"
    assert compaction.internal == "compaction agent"
    assert len(compaction.messages) == 3  # nothing lost
    assert split_exchanges(compaction) == []
    (real,), _ = parse(subagents / "agent-a4c81f2.jsonl")
    assert real.internal is None  # a Task call's sub-agent is the person's work
    assert [e.prompt[:20] for e in split_exchanges(real)] == ["Find every place in "]


@pytest.mark.parametrize(
    ("agent", "prompt", "why"),
    [
        ("a1b2c3d", "Warmup", "warmup agent"),  # Claude Code 2.0.x
        (
            "a1b2c3d",
            "Your task is to create a detailed summary of the conversation so far, and",
            "compaction agent",
        ),
        ("aprompt_suggestion-5e6f7a", "What would the user type next?", "prompt-suggestion agent"),
        ("a1b2c3d", "Warm up the cache by reading src/", None),
    ],
)
def test_internal_agents_inline(tmp_path: Path, agent: str, prompt: str, why: str | None) -> None:
    sidechain = {"isSidechain": True, "agentId": agent}
    lines = [
        _line("u1", "Fix the rounding"),
        _line("u2", prompt, **sidechain),
        {**_line("a1", "", **sidechain), "type": "assistant", "message": {
            "id": "msg_1", "role": "assistant", "content": [{"type": "text", "text": "Ready."}]
        }},
    ]  # fmt: skip
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    main, agent_conversation = parse(path)[0]
    assert main.internal is None and len(split_exchanges(main)) == 1
    assert agent_conversation.internal == why
    assert len(split_exchanges(agent_conversation)) == (0 if why else 1)


def test_title_only_from_a_summary_of_this_file(session: Path, tmp_path: Path) -> None:
    assert parse(session)[0][0].title == "Round invoice discounts half up"
    lines = session.read_text().splitlines(keepends=True)
    foreign_only = tmp_path / session.name
    foreign_only.write_text(lines[0] + "".join(lines[2:]))  # the summary of another file
    assert json.loads(lines[0])["summary"] == "Cleared conversation history"
    assert parse(foreign_only)[0][0].title is None


def test_the_latest_leaf_names_the_conversation(tmp_path: Path) -> None:
    lines = [
        {"type": "summary", "summary": "Later work", "leafUuid": "u2"},
        {"type": "summary", "summary": "Earlier work", "leafUuid": "u1"},
        _line("u1", "first"),
        _line("u2", "second"),
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert parse(path)[0][0].title == "Later work"


def test_a_repeated_line_is_one_message(session: Path, tmp_path: Path) -> None:
    lines = session.read_text().splitlines(keepends=True)
    doubled = tmp_path / session.name
    # a copy of the first prompt and of a reply line, as a second writer or a merge leaves
    doubled.write_text("".join(lines) + lines[6] + lines[7])
    assert [e.source_id for e in exchanges_of(doubled)] == [
        e.source_id for e in exchanges_of(session)
    ]


def _line(uuid: str, content: str, **extra: object) -> dict[str, object]:
    return {
        "type": "user",
        "sessionId": "s1",
        "uuid": uuid,
        "cwd": "/w",
        "message": {"role": "user", "content": content},
        **extra,
    }
