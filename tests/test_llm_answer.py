"""Checking and repairing the LLM distiller's answers (no model needed: answers as data)."""

from __future__ import annotations

from typing import Any

import pytest

from memdistill.distill.llm import cut_middle
from memdistill.distill.llm_prompt import SCHEMA, check
from memdistill.models import FileTouch

SOURCE = (
    "user: the upload retries forever when S3 times out\n"
    "assistant: I set retry_timeout=30 in src/upload/client.py and capped retries at 5. "
    "The error was ReadTimeoutError: timed out after 60s."
)
FILES = [FileTouch("/home/ana/proj/src/upload/client.py", "edited")]


def answer(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "exchange_core": "Upload retried forever on S3 timeouts; set retry_timeout=30 and capped "
        "retries at 5.",
        "specific_context": "retry_timeout=30",
        "room_assignments": [
            {"type": "concept", "key": "retry_timeout", "label": "Retry timeout", "relevance": 0.9}
        ],
    }
    data.update(changes)
    return data


def test_a_good_answer_passes_unchanged() -> None:
    checked = check(answer(), SOURCE, FILES, "/home/ana/proj")
    assert checked.repairs == []
    assert checked.specific_context == "retry_timeout=30"
    assert [(r.type, r.key, r.relevance) for r in checked.rooms] == [
        ("concept", "concept:retry_timeout", 0.9)
    ]


@pytest.mark.parametrize(
    ("changes", "expect_keys", "repair"),
    [
        # five rooms: the three most relevant stay
        (
            {
                "room_assignments": [
                    {"type": "concept", "key": f"k{i}", "label": "x", "relevance": i / 10}
                    for i in range(5)
                ]
            },
            ["concept:k4", "concept:k3", "concept:k2"],
            "2 extra rooms dropped",
        ),
        # relevance outside 0..1 is clamped
        (
            {"room_assignments": [{"type": "concept", "key": "a", "label": "A", "relevance": 7}]},
            ["concept:a"],
            "room relevance clamped to 0..1",
        ),
        # an unknown type is read as a concept; keys become snake_case
        (
            {
                "room_assignments": [
                    {"type": "topic", "key": "Retry Timeout", "label": "", "relevance": 0.5}
                ]
            },
            ["concept:retry_timeout"],
            "room type 'topic' read as concept",
        ),
        # a bare string for a room
        ({"room_assignments": ["S3 uploads"]}, ["concept:s3_uploads"], None),
        # a file room naming a file the exchange touched keys by its project-relative path
        (
            {
                "room_assignments": [
                    {"type": "file", "key": "client.py", "label": "client", "relevance": 0.8}
                ]
            },
            ["file:src/upload/client.py"],
            None,
        ),
        # ... and one naming no touched file becomes a concept
        (
            {
                "room_assignments": [
                    {"type": "file", "key": "server.py", "label": "server", "relevance": 0.8}
                ]
            },
            ["concept:server_py"],
            "file room 'server.py' names no file touched: a concept",
        ),
    ],
)
def test_rooms_are_repaired(
    changes: dict[str, Any], expect_keys: list[str], repair: str | None
) -> None:
    checked = check(answer(**changes), SOURCE, FILES, "/home/ana/proj")
    assert [r.key for r in checked.rooms] == expect_keys
    assert all(0 <= r.relevance <= 1 for r in checked.rooms)
    if repair:
        assert repair in checked.repairs


def test_long_core_is_trimmed_and_invented_detail_dropped() -> None:
    long_core = "Upload retries forever. I set retry_timeout=30. A third that must go. " + "x " * 80
    checked = check(
        answer(exchange_core=long_core, specific_context="max_retries=99"), SOURCE, FILES, None
    )
    assert checked.exchange_core == "Upload retries forever. I set retry_timeout=30."
    assert checked.specific_context == ""  # not in the exchange: the model made it up
    assert "specific_context not found in the exchange: dropped" in checked.repairs


def test_detail_copied_with_other_spacing_and_case_is_kept() -> None:
    checked = check(answer(specific_context="readtimeouterror:  timed out"), SOURCE, FILES, None)
    assert checked.specific_context == "readtimeouterror: timed out"


@pytest.mark.parametrize(
    "bad",
    [
        {"exchange_core": "", "specific_context": "x", "room_assignments": ["a"]},
        {"exchange_core": "   ", "specific_context": "x", "room_assignments": ["a"]},
        {"exchange_core": ",", "specific_context": "x", "room_assignments": ["a"]},
        {"exchange_core": "1-2 2.", "specific_context": "x", "room_assignments": ["a"]},
        {"specific_context": "x", "room_assignments": ["a"]},
        {"exchange_core": "Upload retries capped", "room_assignments": []},
        # the worked example or the schema echoed back: not this exchange's words
        {"exchange_core": "Water the basil every two days.", "room_assignments": ["a"]},
        {"exchange_core": "string: 1-2 sentences", "room_assignments": ["a"]},
        {
            "exchange_core": "Upload retries capped",
            "specific_context": "",
            "room_assignments": [{"key": "", "label": ""}],
        },
        {"exchange_core": ["not", "text"], "room_assignments": ["a"]},
    ],
)
def test_unrepairable_answers_raise_value_error(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        check(bad, SOURCE, FILES, None)


def test_nulls_and_loose_shapes_are_repaired_not_retried() -> None:
    room = {"key": "S3 uploads", "label": None, "relevance": "high"}
    checked = check(answer(specific_context=None, room_assignments=room), SOURCE, FILES, None)
    assert checked.specific_context == ""
    assert [(r.key, r.label, r.relevance) for r in checked.rooms] == [
        ("concept:s3_uploads", "s3 uploads", 0.5)
    ]


def test_schema_asks_for_what_check_accepts() -> None:
    assert SCHEMA["required"] == ["exchange_core", "specific_context", "room_assignments"]
    assert SCHEMA["properties"]["room_assignments"]["maxItems"] == 3


def test_long_exchanges_keep_their_start_and_end() -> None:
    text = "ASK " + "x" * 10_000 + " OUTCOME"
    cut = cut_middle(text, 1000)
    assert cut.startswith("ASK ") and cut.endswith(" OUTCOME") and len(cut) < 1100
    assert "characters cut" in cut
    assert cut_middle("short", 1000) == "short"
