"""Every real Claude Code, Codex and Claude Code console log in ../shared/data/real, split
into the exchanges a person reading it counts (issue 12).

The expectations were written from reading each file (its user lines, queue operations and
tool traffic), not from the parser's output: the prompts typed, queued ones included, in
order; whether the agent answered in words (an exchange can be only tool calls when the
person interrupted it); the files the agent wrote or edited where that tells the exchange
apart; and that nothing internal (notifications, compaction or warmup agents, local slash
commands, Codex's injected context) is a prompt or indexed. The files are third-party
(`../shared/data/SOURCES.md`); these tests skip without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from memdistill.api import Memory
from memdistill.distill.files import extract_files
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Exchange, Problem
from memdistill.sources import detect_parser

S258 = "258c7280-ae70-4798-800f-63464d01a85d"
S4D5 = "4d5611e5-241a-462a-8d15-5122611a9569"
S4C2 = "4c2ddfdc-b619-4525-8d03-1950fb1b0257"
SE9F = "e9fb405b-169f-40eb-9396-7e75076f045d"


@dataclass(frozen=True)
class Expected:
    conversation: str  # its id, or for a console screen the start of it
    prompts: list[str] = field(default_factory=list)  # "..." at the end: a prefix
    silent: frozenset[int] = frozenset()  # exchanges the agent answered only with tools
    writes: dict[int, set[str]] = field(default_factory=dict)  # exchange -> files it wrote
    notifications: dict[int, int] = field(default_factory=dict)  # exchange -> how many
    internal: str | None = None


REAL: dict[str, Expected] = {
    "claude-code/codemie-tmp-private/4c2ddfdc-b619-4525-8d03-1950fb1b0257.jsonl": Expected(
        S4C2,
        ["create hello.py, md and js", "update py with one liner comment", "delete js"],
        writes={0: {"hello.py", "hello.md", "hello.js"}, 1: {"hello.py"}},
    ),
    # Claude Code 2.0.64 warms each sub-agent up with "Warmup"
    "claude-code/codemie-tmp-private/agent-36541525.jsonl": Expected(
        f"{S4C2}:agent-36541525", internal="warmup agent"
    ),
    "claude-code/codemie-tmp-private/agent-50243ee8.jsonl": Expected(
        f"{S4C2}:agent-50243ee8", internal="warmup agent"
    ),
    "claude-code/codemie-incremental-subagents/e9fb405b.jsonl": Expected(
        SE9F,
        ['@"solution-architect (agent)" analyze existing CLI command and create specification...'],
        writes={0: {"SPEC-NEW-CLI-COMMANDS.md"}},
    ),
    "claude-code/codemie-incremental-subagents/turn-2/subagents/agent-a485154.jsonl": Expected(
        f"{SE9F}:agent-a485154",
        ["Analyze the existing CLI command structure in this CodeMie CLI project and create..."],
    ),
    "claude-code/codemie-session-196820da.jsonl": Expected(
        "196820da-1026-4b6f-a513-a6aae42da1a6",
        [
            "ultrathink there is logic that tracks files in claude folder for sso conversation...",
            "it's good, but the issue is that several processes of codemie-claude can be...",
            "we don't control claude code process - it's 3rd party tool that codemie cli is...",
            # queued while the agent answered, then dequeued into a user line: once
            "don't produce code, design solution first",
            "more context: the issue must be address, option 1 is not accepable...",
            "analyze history.jsonl. /clear command present there. in addition - there is...",
            "great, but there is existing logic for scanning history",
            "there is no need to track existing session, once /clear is found - need to...",
            "not getting about finalizing all sessios, query api, etc. logic is straightforward...",
            "the main idea is fine, however sessionOrchecstrator must not be agent specific...",
            "great, but keep in mind that new file will be at the same folder as old one",
            "great, prepare focused step by step plan with clear action items for tracking...",
            "create document in /specs folder",
        ],
        writes={12: {"session-lifecycle-detection.md"}},
    ),
    "claude-code/codemie-session-3fe1b6bc.jsonl": Expected(
        "3fe1b6bc-dbd0-4320-b980-4f147befa187",
        [
            "/bmad:bmm:workflows:create-tech-spec",  # a skill call, after a local /clear
            "analyze existing codex folder for sessions structure and writen details...",
            "proceed",
            "a - run codex exec command to check real token data location",
            # queued "check 019b7f07-...", pulled back (popAll), retyped, handed to the turn
            "check 019b7f07-4a68-7d10-a8ef-8454269f439d and event_msg type",
            "doublecheck 019b7f04-0b04-7cd3-b739-bfa632f7459e it has great example of tokens...",
            "p",
            "TODO is not acceptable, implementation must be full...",
            "d",
        ],
        writes={2: {"tech-spec-codex-metrics-plugin.md"}, 4: {"tech-spec-codex-metrics-plugin.md"}},
    ),
    "claude-code/codemie-session-624a4a58.jsonl": Expected(
        "624a4a58-b34c-462d-a70d-13421c8125a8",
        [
            "@src/providers/plugins/sso/ARCHITECTURE-REFACTORING.md review old and current...",
            "it's bad idea, since entire converation will be proceed every time...",
            "track it in the same file as metrics were originally tracked, just extend json...",
            "don't create separate documents. put into existing with converation incremental...",
            "no, it's not phase 1 there bunch of pahses completed",
            "ir's not jsonl file. it's json file with strcuture and there is syncState there",
            "I think that processedRecordIds is exactly the same as lastSyncedMessageUuid...",
            "don't add notes, looks like there is a need to track codemie conversation_uid...",
            "what about edge cases and error handling?",
            "before providing proposal for phase 4.1 check existing implementation for metrics...",
            "show me json strcuture for session tracking",
            "there are no tracking of failures for metrics. does it make sense to have it...",
            "conversationId is the same as sessionId. let's set same value for conversation",
            "update phase 4.1 document",
            "no, add conversationId field, but set value from sessionId",  # queued, handed over
        ],
        writes={
            1: {"CONVERSATION-INCREMENTAL-TRACKING-DESIGN.md"},
            2: {"UNIFIED-TRACKING-DESIGN.md"},
            4: {"ARCHITECTURE-REFACTORING.md"},
            14: {"ARCHITECTURE-REFACTORING.md"},
        },
    ),
    # 16 summary lines, none about a message of this file: no title (checked below)
    "claude-code/codemie-session-9eda1058.jsonl": Expected(
        "9eda1058-9706-484a-b992-d03f9cfa2546",
        ["show tools and store response in file", "explore more of current repo", "what else?"],
        writes={0: {"available-tools.md"}},
    ),
    f"claude-code/spotter-{S258}/{S258}.jsonl": Expected(
        S258,
        [
            "Implement spotter-gqc",
            "check again",  # queued while the tests compiled
            "new beads for the epic were added. tackle them",  # queued too
            "did you push?",
        ],
        writes={
            0: {
                "annotation_message_ref.ex",
                "20260211203856_add_annotation_message_refs_and_source.exs",
            },
            2: {"project_review_live.ex", "project_review_live_test.exs"},
        },
        # a background command's end, in the exchange then running
        notifications={0: 1, 2: 1},
    ),
    f"claude-code/spotter-{S258}/subagents/agent-a881341.jsonl": Expected(
        f"{S258}:agent-a881341",
        ["What is the output contract for Claude Code hooks, specifically for SessionStart..."],
    ),
    f"claude-code/spotter-{S258}/subagents/agent-acompact-fffbd0.jsonl": Expected(
        f"{S258}:agent-acompact-fffbd0", internal="compaction agent"
    ),
    f"claude-code/spotter-{S4D5}/{S4D5}.jsonl": Expected(
        S4D5,
        [
            "Work on bead spotter-dov. Run bd show spotter-dov to see the issue details and bd...",
            "continue",
        ],
        writes={
            0: {"transcript_components.ex", "transcript_computers.ex"},
            1: {"subagent_live.ex", "subagent_live_test.exs"},
        },
        notifications={1: 1},
    ),
    f"claude-code/spotter-{S4D5}/subagents/agent-a2898e3.jsonl": Expected(
        f"{S4D5}:agent-a2898e3",
        ["Very thorough exploration. I need to understand:..."],
    ),
    f"claude-code/spotter-{S4D5}/subagents/agent-acompact-e1f845.jsonl": Expected(
        f"{S4D5}:agent-acompact-e1f845", internal="compaction agent"
    ),
    "claude-code/spotter-subagent.jsonl": Expected(
        "491e126e-1e71-469c-ade2-fcc8af567c74",
        [
            "/handgemacht:create-beads websearch to learn how to fastest setup credo, dialyzer...",
            "create the beads",
        ],
        writes={0: {"plan.md"}},
    ),
    "claude-code/spotter-tool_heavy.jsonl": Expected(
        "d6e0bada-1959-4eec-a9d2-0bfade768d8f",
        [
            "start phoenix in background",
            "/mcp",  # queued while the server started, and answered ("check the MCP servers")
            "scrolling back in xterm.js still does not work (maybe because outer web catches...",
        ],
        silent=frozenset({0, 2}),  # a background Bash call; searches the person interrupted
    ),
    "claude-console/spotter-subagent.terminal.txt": Expected(
        "console-",
        [
            "/handgemacht:create-beads websearch to learn how to fastest setup credo, dialyzer...",
            "create the beads",
        ],
        writes={0: {"plan.md"}},
    ),
    # the screen shows neither the queued /mcp nor the local /mcp's as prompts
    "claude-console/spotter-tool_heavy.terminal.txt": Expected(
        "console-",
        [
            "start phoenix in background",
            "scrolling back in xterm.js still does not work (maybe because outer web catches...",
        ],
        silent=frozenset({1}),
    ),
    "codex/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl": Expected(
        "019e1625-789d-76c0-80ab-3724b5ddb799",
        ["show tools", "let's update the defailt context compart to 90 in env var"],
        writes={1: {"codemie-code.plugin.ts", "opencode.plugin.ts"}},
    ),
    # Codex Desktop 0.128: the prompts exist only as event_msg user_message
    "codex/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl": Expected(
        "019e1695-0522-7c83-8b39-0dd379793f80",
        [
            "\n# Files mentioned by the user:\n\n## Sample Project Demo Prep.vtt: /Users/...",
            "there is a need for nikita to draft demo scenario around governance, budgetings...",
            "use app tools to go to Analytics and Project management tabs in codemie plaform...",
        ],
    ),
}

# What a person never typed: none of it may open an exchange.
NOT_PROMPTS = (
    "<task-notification>",
    "Your task is to create a detailed summary",
    "Warmup",
    "<command-",
    "<local-command",
    "Caveat:",
    "[Request interrupted",
    "This session is being continued",
    "# AGENTS.md",
    "<environment_context>",
    "Create beads (epic + tasks",  # the skill's expanded text
)


def read(path: Path) -> tuple[Conversation, list[Problem]]:
    problems: list[Problem] = []
    (conversation,) = detect_parser(path).parse(path, problems.append)
    return conversation, problems


def matches(prompt: str, expected: str) -> bool:
    return prompt.startswith(expected[:-3]) if expected.endswith("...") else prompt == expected


def test_every_real_file_has_its_expectation(shared_data: Path) -> None:
    real = shared_data / "real"
    files = {
        str(p.relative_to(real))
        for folder in ("claude-code", "codex", "claude-console")
        for p in (real / folder).rglob("*")
        if p.is_file()
    }
    assert files == set(REAL)


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_log_splits_as_typed(shared_data: Path, name: str) -> None:
    expected = REAL[name]
    conversation, problems = read(shared_data / "real" / name)
    assert problems == []
    assert conversation.source_id.startswith(expected.conversation)
    if expected.conversation != "console-":
        assert conversation.source_id == expected.conversation
    assert conversation.title is None  # no summary line of these files is about them
    assert conversation.internal == expected.internal
    exchanges = split_exchanges(conversation)
    prompts = [e.prompt for e in exchanges]
    assert len(prompts) == len(expected.prompts), prompts
    for prompt, want in zip(prompts, expected.prompts, strict=True):
        assert matches(prompt, want), (prompt[:90], want)
    assert not any(p.lstrip().startswith(NOT_PROMPTS) for p in prompts)
    answered = [n for n, e in enumerate(exchanges) if e.reply.strip()]
    assert answered == [n for n in range(len(exchanges)) if n not in expected.silent]
    assert all(e.tool_calls for n, e in enumerate(exchanges) if n in expected.silent)
    for n, names in expected.writes.items():
        assert names <= written(exchanges[n]), n
    notes = {n: c for n, e in enumerate(exchanges) if (c := kinds(e).count("notification"))}
    assert notes == expected.notifications


def written(exchange: Exchange) -> set[str]:
    touches = extract_files(exchange)
    return {t.path.rsplit("/", 1)[-1] for t in touches if t.action in ("edited", "created")}


def kinds(exchange: Exchange) -> list[str]:
    return [m.kind for m in exchange.messages]


def test_summaries_of_other_files_give_no_title(shared_data: Path) -> None:
    path = shared_data / "real" / "claude-code" / "codemie-session-9eda1058.jsonl"
    assert path.read_text().count('"type":"summary"') == 16
    assert read(path)[0].title is None


def test_the_real_folders_ingest(shared_data: Path, tmp_path: Path) -> None:
    real = shared_data / "real"
    folders = [real / "claude-code", real / "codex", real / "claude-console"]
    with Memory.open(tmp_path / "store") as memory:
        report = memory.ingest(folders)
        assert (report.files, report.files_skipped, report.files_failed) == (21, 0, 0)
        assert report.problems == []
        assert report.conversations == len(REAL)
        assert report.exchanges_added == sum(len(e.prompts) for e in REAL.values())
        internal = sorted((c.why, Path(c.path).name) for c in report.internal)
        assert internal == [
            ("compaction agent", "agent-acompact-e1f845.jsonl"),
            ("compaction agent", "agent-acompact-fffbd0.jsonl"),
            ("warmup agent", "agent-36541525.jsonl"),
            ("warmup agent", "agent-50243ee8.jsonl"),
        ]
        for query in ("create a detailed summary of the conversation so far", "Warmup"):
            for hit in memory.search(query, k=20):
                assert "acompact" not in hit.conversation_id
                assert not hit.conversation_id.endswith(("agent-36541525", "agent-50243ee8"))
        again = memory.ingest(folders)
        assert (again.files_unchanged, again.exchanges_added) == (21, 0)
