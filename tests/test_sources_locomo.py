"""The LoCoMo parser: one conversation per session, ids the evaluation's evidence maps to."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memdistill.errors import FormatError
from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Problem
from memdistill.sources.locomo import LoCoMoParser


def parse(path: Path) -> tuple[list[Conversation], list[Problem]]:
    problems: list[Problem] = []
    return list(LoCoMoParser().parse(path, problems.append)), problems


@pytest.fixture
def sample_file(fixtures: Path) -> Path:
    return fixtures / "sources" / "locomo-mini.json"


@pytest.fixture
def sample(sample_file: Path) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(sample_file.read_text())
    return data[0]


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(data))
    return path


def test_sessions_become_conversations(sample_file: Path) -> None:
    conversations, problems = parse(sample_file)
    assert problems == []
    # session_3 has a date but no turns: skipped
    assert [(c.source_id, c.project) for c in conversations] == [
        ("mini-1:session_1", "mini-1"),
        ("mini-1:session_2", "mini-1"),
    ]
    first, second = conversations
    assert [(m.source_id, m.role, m.kind, m.line) for m in first.messages] == [
        ("mini-1:D1:1", "user", "prompt", 1),
        ("mini-1:D1:2", "assistant", "text", 2),
        ("mini-1:D1:3", "user", "prompt", 3),
        ("mini-1:D1:4", "assistant", "text", 4),
    ]
    assert first.messages[2].text.endswith(" [image: a photo of a small brown dog on a couch]")
    assert {m.timestamp for m in first.messages} == {datetime(2023, 5, 8, 13, 56, tzinfo=UTC)}
    assert {m.timestamp for m in second.messages} == {datetime(2023, 5, 12, 10, 2, tzinfo=UTC)}
    assert [len(split_exchanges(c)) for c in conversations] == [2, 3]


def test_evidence_ids_name_messages(sample_file: Path, sample: dict[str, Any]) -> None:
    ids = {m.source_id for c in parse(sample_file)[0] for m in c.messages}
    evidence = [e for qa in sample["qa"] for e in qa["evidence"]]
    assert evidence and all(f"{sample['sample_id']}:{e}" in ids for e in evidence)


def test_single_sample_object(tmp_path: Path, sample: dict[str, Any]) -> None:
    assert len(parse(write(tmp_path, sample))[0]) == 2


def test_odd_sessions_and_turns(tmp_path: Path, sample: dict[str, Any]) -> None:
    odd = copy.deepcopy(sample)
    talk = odd["conversation"]
    talk["session_1_date_time"] = "sometime in spring"
    talk["session_2"][0]["speaker"] = "Carla"
    talk["session_2"].extend([{"speaker": "Ana", "text": "no dia_id"}, "not a turn"])
    talk["session_4"] = "not a list"
    conversations, problems = parse(write(tmp_path, [odd, {"sample_id": "x"}, 5]))
    assert [len(c.messages) for c in conversations] == [4, 4]
    assert all(m.timestamp is None for m in conversations[0].messages)
    assert conversations[1].messages[0].kind == "text"  # unknown speaker kept as a reply
    messages = [p.message for p in problems]
    assert len(messages) == 7
    assert "unreadable date 'sometime in spring'" in messages[0]
    assert "Carla" in messages[1] and "kept" in messages[1]
    assert all(re.search(r"skipped$", m) for m in messages[2:])


@pytest.mark.parametrize(
    ("content", "match"),
    [("[]", None), ('[{"qa": []}]', "no LoCoMo sample"), ('{"conversation": {', "line 1 column")],
)
def test_unreadable_files(tmp_path: Path, content: str, match: str | None) -> None:
    path = tmp_path / "locomo.json"
    path.write_text(content)
    if match is None:
        assert parse(path) == ([], [])
        return
    with pytest.raises(FormatError, match=match):
        parse(path)


def test_real_samples(shared_data: Path) -> None:
    path = shared_data / "locomo-dev.json"
    conversations, problems = parse(path)
    assert problems == []
    per_sample = {s: [c for c in conversations if c.project == s] for s in ("conv-26", "conv-30")}
    assert {s: len(cs) for s, cs in per_sample.items()} == {"conv-26": 19, "conv-30": 19}
    assert {s: sum(len(c.messages) for c in cs) for s, cs in per_sample.items()} == {
        "conv-26": 419,
        "conv-30": 369,
    }
    assert conversations[0].messages[0].timestamp == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    ids = {m.source_id for c in conversations for m in c.messages}
    samples = json.loads(path.read_text())
    evidence = [
        (s["sample_id"], e) for s in samples for qa in s["qa"] for e in qa.get("evidence", [])
    ]
    missing = [e for sample_id, e in evidence if f"{sample_id}:{e}" not in ids]
    assert len(evidence) == 381
    assert missing == ["D8:6; D9:17"]  # malformed in the data set itself (see SOURCES.md)
