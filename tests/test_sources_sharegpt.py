"""ShareGPT-style conversations ({"conversations": [{"from", "value"}]}), JSON and JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.sharegpt import ShareGPTParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(ShareGPTParser().parse(path, problems.append)), problems


def test_json_list_with_system_and_function_calls(fixtures: Path) -> None:
    (bakery, vat), problems = parse(fixtures / "sources" / "sharegpt-conversations.json")
    assert problems == []
    assert (bakery.source_id, vat.source_id) == ("identity_4120", "sharegpt-conversations:2")
    assert bakery.id_from_file and vat.id_from_file  # ids are unique only within a data set
    assert bakery.messages[0].kind == "meta" and bakery.messages[0].text.startswith(
        "You are a careful assistant"
    )
    assert [(e.prompt, e.reply[:32]) for e in split_exchanges(bakery)] == [
        ("How do I export today's sales from the POS as CSV?", "Open Reports > Daily sales, pick"),
        ("The export button is greyed out.", "Exports stay disabled until the "),
    ]
    (exchange,) = split_exchanges(vat)
    assert exchange.prompt == "What's the VAT on a 24.00 cake order at 20%?"
    assert [(t.name, t.input) for t in exchange.tool_calls] == [
        ("calculate_vat", {"amount": 24.0, "rate": 0.2})
    ]
    assert [m.text for m in exchange.messages if m.kind == "tool_result"] == [
        '{"vat": 4.0, "total": 28.0}'
    ]
    assert exchange.reply == "The VAT is 4.00, so the order totals 28.00."
    assert [m.source_id for m in vat.messages] == [f"{vat.source_id}:{i}" for i in range(4)]


def test_jsonl_records(fixtures: Path) -> None:
    conversations, problems = parse(fixtures / "sources" / "sharegpt-conversations.jsonl")
    assert problems == []
    assert [(c.source_id, c.messages[0].line) for c in conversations] == [
        ("q7Xk2Pd_0", 1),
        ("q7Xk2Pd_1", 2),
    ]
    assert [split_exchanges(c)[0].prompt for c in conversations] == [
        "Write a bash one-liner that counts lines in all .py files under src/.",
        "Now exclude the tests folder.",
    ]


def test_one_record_file_and_growth(tmp_path: Path) -> None:
    path = tmp_path / "chat.json"
    turns = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "Hello!"}]
    path.write_text(json.dumps({"conversations": turns}))
    (before,), _ = parse(path)
    assert before.source_id == "chat"
    turns += [{"from": "human", "value": "bye"}, {"from": "gpt", "value": "Bye!"}]
    path.write_text(json.dumps({"conversations": turns}))
    (after,), _ = parse(path)
    ids = [m.source_id for m in after.messages]
    assert ids[:2] == [m.source_id for m in before.messages] and len(ids) == 4


def test_bad_turns_are_reported_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    lines = [
        json.dumps(
            {"conversations": [{"from": "human", "value": "ok?"}, {"from": "wizard", "value": "x"}]}
        ),
        '{"conversations": [{"from": "human", "val',
        json.dumps({"conversations": "none"}),
        json.dumps({"conversations": [{"from": "gpt"}, {"from": "gpt", "value": "Yes."}]}),
    ]
    path.write_text("\n".join(lines) + "\n")
    conversations, problems = parse(path)
    assert [(p.line, p.message.split(";")[0].split(",")[0]) for p in problems] == [
        (1, "turn 1 from unknown speaker 'wizard'"),
        (2, "malformed JSON line"),
        (3, "record has no `conversations` list"),
        (4, "turn 0 has no `from` and `value`"),
    ]
    assert [[m.text for m in c.messages] for c in conversations] == [["ok?"], ["Yes."]]


@pytest.mark.parametrize("content", ['{"rows": [1]}', "[]", '[{"conversations": []}]'])
def test_no_conversation_is_a_format_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "data.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=r"data\.json"):
        parse(path)
