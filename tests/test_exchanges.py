"""Splitting conversations into exchanges, verbatim rendering, content hashes."""

from __future__ import annotations

from memdistill.exchanges import content_hash, render_verbatim, split_exchanges
from memdistill.models import Conversation, Message, ToolCall


def msg(mid: str, kind: str, text: str = "x", role: str = "user") -> Message:
    return Message(mid, role, kind, text)  # type: ignore[arg-type]


def test_only_prompts_open_exchanges() -> None:
    conversation = Conversation(
        "c",
        [
            msg("1", "prompt", "run the tests"),
            msg("2", "tool_call", '{"command": "pytest"}', "assistant"),
            msg("3", "tool_result", "1 failed", "tool"),
            msg("4", "meta", "/cost"),
            msg("5", "text", "One test fails.", "assistant"),
            msg("6", "prompt", "fix it"),
            msg("7", "text", "Fixed.", "assistant"),
        ],
    )
    exchanges = split_exchanges(conversation)
    assert [e.source_message_ids for e in exchanges] == [["1", "2", "3", "4", "5"], ["6", "7"]]
    assert exchanges[0].source_id == "1" and exchanges[1].seq == 1


def test_leading_messages_are_kept() -> None:
    # Meta before the first prompt joins it; an agent speaking first is an exchange of its own.
    meta_first = split_exchanges(Conversation("c", [msg("0", "meta"), msg("1", "prompt")]))
    assert [e.source_message_ids for e in meta_first] == [["0", "1"]]
    agent_first = split_exchanges(
        Conversation("c", [msg("0", "text", "hi", "assistant"), msg("1", "prompt")])
    )
    assert [e.source_message_ids for e in agent_first] == [["0"], ["1"]]
    assert split_exchanges(Conversation("c", [msg("0", "meta")])) == []


def test_repeated_ids_are_made_unique() -> None:
    exchanges = split_exchanges(Conversation("c", [msg("a", "prompt"), msg("a", "text")]))
    assert exchanges[0].source_message_ids == ["a", "a~2"]


def test_render_and_hash() -> None:
    call = Message(
        "2",
        "assistant",
        "tool_call",
        '{"file_path": "a.py"}',
        tool=ToolCall("Read", {"file_path": "a.py"}),
    )
    messages = [msg("1", "prompt", "read a.py"), call, msg("3", "meta", "caveat")]
    text = render_verbatim(messages)
    assert text == 'User: read a.py\n\nTool call Read: {"file_path": "a.py"}'
    grown = [*messages, msg("4", "text", "done", "assistant")]
    assert content_hash(messages) == content_hash(list(messages))
    assert content_hash(messages) != content_hash(grown)
