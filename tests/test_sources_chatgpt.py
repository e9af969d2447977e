"""The ChatGPT export parser: active branch only, content types, odd exports."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.chatgpt import ChatGPTParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(ChatGPTParser().parse(path, problems.append)), problems


@pytest.fixture
def export(fixtures: Path) -> Path:
    return fixtures / "sources" / "chatgpt-conversations.json"


@pytest.fixture
def export_data(export: Path) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(export.read_text())
    return data


def write(tmp_path: Path, data: object, name: str = "conversations.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_active_branch_only(export: Path) -> None:
    (first, second), problems = parse(export)
    assert problems == []
    assert (first.source_id, first.title) == (
        "665d9a10-1b2c-4d3e-8f40-5a6b7c8d9e01",
        "Rounding invoice totals",
    )
    assert not any("ABANDONED" in m.text for m in first.messages)
    assert [m.kind for m in first.messages] == [
        "meta",  # custom instructions (user_editable_context, hidden)
        "prompt",
        "text",
        "prompt",
        "tool_call",
        "tool_result",
        "text",
    ]
    assert [len(split_exchanges(c)) for c in (first, second)] == [2, 1]
    assert first.messages[1].source_id == "aaa2d6e9-4b8f-4c2a-9f5d-2e7a0b3c9d43"
    assert first.messages[2].text.startswith("10.045 has no exact binary float")
    assert first.messages[1].timestamp == datetime.fromtimestamp(1717405210.0, UTC)


def test_content_types(export: Path) -> None:
    (first, second), _ = parse(export)
    image_prompt = first.messages[3]
    assert (
        image_prompt.text
        == "[image]\nHere is the invoice. Check the discounted total with Decimal."
    )
    call = first.messages[4]
    assert call.tool is not None and call.tool.name == "python"
    assert call.text.startswith("from decimal import") and call.tool.input == {"code": call.text}
    assert first.messages[5].text == "10.01" and first.messages[5].role == "tool"
    assert second.source_id == "665e0b21-2c3d-4e4f-9051-6b7c8d9e0f12"  # from conversation_id
    assert second.messages[0].timestamp is None  # create_time null
    browse, quote = second.messages[2], second.messages[3]
    assert browse.kind == quote.kind == "tool_result"
    assert "quantize(exp, rounding=None" in browse.text
    assert quote.text.splitlines()[1] == "https://docs.python.org/3/library/decimal.html"
    assert all(m.kind != "prompt" for c in (first, second) for m in c.messages if m.role == "tool")


def test_single_conversation_object(tmp_path: Path, export_data: list[dict[str, Any]]) -> None:
    (conversation,), _ = parse(write(tmp_path, export_data[1]))
    assert conversation.title == "Decimal.quantize docs"


def test_continued_conversation_keeps_ids(
    tmp_path: Path, export_data: list[dict[str, Any]]
) -> None:
    before = [m.source_id for m in parse(write(tmp_path, export_data))[0][0].messages]
    grown = copy.deepcopy(export_data)
    mapping = grown[0]["mapping"]
    last = grown[0]["current_node"]
    mapping[last]["children"] = ["new-node"]
    mapping["new-node"] = {
        "id": "new-node",
        "parent": last,
        "children": [],
        "message": {
            "id": "new-node",
            "author": {"role": "user"},
            "create_time": 1717405300.0,
            "content": {"content_type": "text", "parts": ["And for 3-for-2 offers?"]},
        },
    }
    grown[0]["current_node"] = "new-node"
    after = [m.source_id for m in parse(write(tmp_path, grown))[0][0].messages]
    assert after == [*before, "new-node"]


def test_bad_pointers_and_loops(tmp_path: Path, export_data: list[dict[str, Any]]) -> None:
    data = copy.deepcopy(export_data)
    data[0]["current_node"] = "missing"  # falls back to the last leaf
    mapping = data[1]["mapping"]
    root = next(k for k, v in mapping.items() if v["parent"] is None)
    mapping[root]["parent"] = data[1]["current_node"]  # a cycle
    conversations, problems = parse(write(tmp_path, data))
    assert [len(c.messages) for c in conversations] == [7, 5]
    assert [p.line for p in problems] == [1]
    assert "current_node" in problems[0].message


def test_wrong_shapes_are_problems(tmp_path: Path, export_data: list[dict[str, Any]]) -> None:
    hello = {
        "author": {"role": "user"},
        "content": {"content_type": "text", "parts": ["hello"]},
        "create_time": "soon",
    }
    odd_nodes = {
        "r": {"id": "r", "parent": None, "children": ["a"], "message": None},
        "a": {
            "id": "a",
            "parent": "r",
            "children": ["b"],
            "message": {"content": {"parts": [None, 3, {"x": 1}]}},
        },
        "b": {"id": "b", "parent": "a", "children": ["c"], "message": "not a dict"},
        "c": {
            "id": "c",
            "parent": "b",
            "children": [],
            "message": hello,
        },
    }
    data = [
        42,
        {"title": "no mapping"},
        {"id": "odd", "mapping": odd_nodes, "current_node": "c"},
        export_data[1],
        {
            "id": "lists",
            "mapping": {"n": {"parent": ["p"], "message": hello}},
            "current_node": ["n"],
        },
    ]
    conversations, problems = parse(write(tmp_path, data))
    assert [c.source_id for c in conversations] == [
        "odd",
        "665e0b21-2c3d-4e4f-9051-6b7c8d9e0f12",
        "lists",
    ]
    odd = conversations[0]
    assert [(m.source_id, m.kind, m.text) for m in odd.messages] == [
        ("a", "meta", "[file]"),  # no role: kept but never a prompt
        ("c", "prompt", "hello"),
    ]
    assert [p.line for p in problems] == [1, 2, 3, 5, 5, 5]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('[{"title": "cut', r"line 1 column"),
        ('[\n  {"mapping": {\n', r"conversations.json:3"),
        ("[1, 2]", "no ChatGPT conversation"),
        ('{"title": "x"}', "no ChatGPT conversation"),
    ],
)
def test_unreadable_files_raise(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "conversations.json"
    path.write_text(content)
    with pytest.raises(FormatError, match=match):
        parse(path)


def test_real_export(shared_data: Path) -> None:
    conversations, problems = parse(shared_data / "chatgpt-export-sample.json")
    assert problems == []
    assert [c.title for c in conversations] == [
        "Django Multi-DB Setup",
        "Oscar for Rental Webshop",
        "GitHub Wikis & Source Code",
    ]
    assert [len(split_exchanges(c)) for c in conversations] == [13, 4, 2]
    assert [len(c.messages) for c in conversations] == [26, 26, 6]
    oscar = conversations[1]
    # the first reply to the first prompt was regenerated: its branch of 6 nodes is not read
    mapping = json.loads((shared_data / "chatgpt-export-sample.json").read_text())[1]["mapping"]
    abandoned: set[str] = set()
    todo = ["9f37e3ed-9201-4044-a973-22b41e2632c9"]
    while todo:
        abandoned.add(todo[-1])
        todo.extend(mapping[todo.pop()]["children"])
    assert len(abandoned) == 6
    assert abandoned.isdisjoint(m.source_id for m in oscar.messages)
    tools = [m.tool.name for m in oscar.messages if m.tool]
    assert tools == ["browser"] * 10
    mermaid = conversations[2].messages[3]
    assert mermaid.tool is not None and mermaid.tool.name == "show_me.get_MermaidRoute"
