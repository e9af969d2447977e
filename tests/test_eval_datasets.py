"""Query sets and the LoCoMo loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memdistill.errors import FormatError
from memdistill.eval.datasets import Notes, load_queries, locomo_queries, normalise_evidence


@pytest.mark.parametrize(("raw", "expected", "fixed"), [
    ("D1:3", ["D1:3"], False),
    ("D8:6; D9:17", ["D8:6", "D9:17"], True),
    ("D:11:26", ["D11:26"], True),
    ("D30:05", ["D30:5"], True),
    ("D 4 : 2", ["D4:2"], True),
    ("nonsense", [], False),
])  # fmt: skip
def test_evidence_is_normalised_and_every_change_noted(
    raw: str, expected: list[str], fixed: bool
) -> None:
    notes = Notes()
    assert normalise_evidence(raw, "q", notes) == expected
    assert bool(notes.fixed) == fixed
    assert bool(notes.dropped) == (not expected)


def test_locomo_queries(tmp_path: Path) -> None:
    sample = {
        "sample_id": "s1",
        "conversation": {
            "speaker_a": "Ann", "speaker_b": "Bo",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": "I adopted a cat."},
                          {"speaker": "Bo", "dia_id": "D1:2", "text": "Lovely!"}],
        },
        "qa": [
            {"question": "What did Ann adopt?", "answer": "a cat", "evidence": ["D1:01"],
             "category": 4},
            {"question": "Who is Bo's dog?", "evidence": ["D9:9"], "category": 5,
             "adversarial_answer": "Rex"},
            {"question": "Any evidence?", "evidence": [], "category": 1},
        ],
    }  # fmt: skip
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps([sample]))
    queries, notes = locomo_queries(path)
    assert [q.qid for q in queries] == ["s1:q1", "s1:q2", "s1:q3"]
    assert queries[0].relevant == {"s1:D1:1": 2} and queries[0].project == "s1"
    assert (queries[0].type, queries[0].category) == ("single-hop", "4")
    assert queries[1].relevant is None and queries[1].category == "5"  # its turn does not exist
    assert notes.as_json()["counts"] == {"fixed": 1, "dropped": 1}
    assert notes.dropped[0]["why"] == "no such turn"


def test_real_locomo_sample(shared_data: Path) -> None:
    queries, notes = locomo_queries(shared_data / "locomo-dev.json")
    assert len(queries) == 304
    assert {"from": "D8:6; D9:17", "qid": "conv-26:q38", "to": "D8:6; D9:17"} in notes.fixed
    assert all(q.project in ("conv-26", "conv-30") for q in queries)


def test_query_set_loader_and_its_errors(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text(
        '{"qid": "a", "query": "docker build", "relevant": {"m1": 2, "m2": 0}}\n\n'
        '{"qid": "b", "query": "never discussed", "relevant": {}}\n'
        '{"qid": "c", "query": "unlabelled", "project": "p"}\n'
    )
    a, b, c = load_queries(path)
    assert a.relevant == {"m1": 2} and not a.absent
    assert b.absent and c.relevant is None and c.project == "p"
    path.write_text('{"qid": "a", "query": "x"}\n{"qid": "a", "query": "y"}\n')
    with pytest.raises(FormatError, match=r"q.jsonl:2: qid 'a' appears twice"):
        load_queries(path)
    path.write_text('{"qid": "a", "query": "x", "relevant": {"m": 7}}\n')
    with pytest.raises(FormatError, match=r"q.jsonl:1: not a query"):
        load_queries(path)
    path.write_text('{"qid": "a", "query": "x"}\n{not json\n')
    with pytest.raises(FormatError, match=r"q.jsonl:2: not JSON .*; each line is \{"):
        load_queries(path)
    with pytest.raises(FormatError, match=r"nothing.jsonl: cannot read the file"):
        load_queries(tmp_path / "nothing.jsonl")


def test_the_project_query_set_is_valid() -> None:
    queries = load_queries(Path(__file__).resolve().parents[1] / "data" / "queries.jsonl")
    assert len(queries) >= 30 and sum(q.absent for q in queries) >= 3
