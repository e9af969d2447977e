"""The eval graders: labels, LLM graders on a real llama.cpp server, cache, pool, consensus."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import krippendorff
import numpy as np
import pytest
from fault_proxy import FaultProxy

from memdistill.errors import ConfigError
from memdistill.eval.graders import (
    CUT_MARK,
    GRADES,
    GradeCache,
    LabelGrader,
    LLMGrader,
    Pair,
    agreement,
    consensus,
    grade_pool,
)
from memdistill.llm import Endpoint

if TYPE_CHECKING:  # imported by pytest as a plugin, so that its asserts are rewritten
    from llm_server import LlamaServer, LocalLLM


EXCHANGES = [
    "user: sqlite says database is locked\nassistant: Two writers held the WAL; set busy_timeout.",
    "user: requests time out after 30 s\nassistant: Raised retry_timeout to 120 in config.toml.",
    "user: start the dev server\nassistant: Ran `npm run dev`; it listens on port 5173.",
    "user: CI is slow again\nassistant: pip had no cache in CI; added a cache step.",
]
QUERIES = ["why was the database locked", "which port does the dev server use", "slow CI"]


def grader(name: str, endpoint: Endpoint) -> LLMGrader:
    return LLMGrader(name, endpoint, max_chars=300, max_tokens=64)


# --- LLM graders against the real server -------------------------------------------------


def test_llm_grader_answers_on_the_scale(llm_server: LocalLLM) -> None:
    judge = grader("smol", llm_server.endpoint())
    assert judge.grade(QUERIES[0], EXCHANGES[0]) in GRADES
    assert judge.usage.requests >= 1 and judge.failures == 0


def test_dead_server_leaves_the_pair_ungraded(dying_llm_server: LlamaServer) -> None:
    dying_llm_server.kill()
    endpoint = Endpoint(
        dying_llm_server.base_url, dying_llm_server.model, api_key_env="", backoff=0.05
    )
    judge = grader("smol", endpoint)
    started = time.monotonic()
    assert judge.grade(QUERIES[0], EXCHANGES[0]) is None  # ungraded, never 0
    assert time.monotonic() - started < 10
    assert judge.failures == 1 and judge.last_error and "Connection error" in judge.last_error


def test_timeout_leaves_the_pair_ungraded(fault_proxy: Callable[..., FaultProxy]) -> None:
    proxy = fault_proxy(delay_fraction=1.0, delay_s=5.0)
    endpoint = Endpoint(
        proxy.base_url, "smollm2-135m", api_key_env="", timeout=0.5, max_retries=1, backoff=0.05
    )
    assert grader("smol", endpoint).grade(QUERIES[0], EXCHANGES[0]) is None


def test_a_rerun_makes_no_new_requests(llm_server: LocalLLM, tmp_path: Path) -> None:
    # Three runs returned overlapping exchanges; q9 asks q0's question under another id.
    runs = [
        [Pair("q0", "d0", QUERIES[0], EXCHANGES[0]), Pair("q0", "d1", QUERIES[0], EXCHANGES[1])],
        [Pair("q0", "d1", QUERIES[0], EXCHANGES[1]), Pair("q1", "d2", QUERIES[1], EXCHANGES[2])],
        [Pair("q0", "d0", QUERIES[0], EXCHANGES[0]), Pair("q9", "d0", QUERIES[0], EXCHANGES[0])],
    ]
    pairs = [pair for run in runs for pair in run]
    graders = [grader("a", llm_server.endpoint()), grader("b", llm_server.endpoint())]
    path = tmp_path / "grades.sqlite"
    requests = llm_server.chat_completions
    with GradeCache(path) as cache:
        first = grade_pool(pairs, graders, cache, concurrency=2)
    assert first.ungraded == 0, [g.last_error for g in graders]
    assert first.calls == 6 and first.cached == 0  # 3 distinct texts x 2 graders
    assert llm_server.chat_completions - requests >= 6  # more if an answer was retried
    assert set(first.grades) == {("q0", "d0"), ("q0", "d1"), ("q1", "d2"), ("q9", "d0")}
    assert first.grades["q9", "d0"] == first.grades["q0", "d0"]

    requests = llm_server.chat_completions
    predicted = llm_server.metrics()["llamacpp:tokens_predicted_total"]
    with GradeCache(path) as cache:  # a new process would open the same file
        second = grade_pool(pairs, graders, cache, concurrency=2)
        assert len(cache) == 6
    assert second.grades == first.grades
    assert second.calls == 0 and second.cached == 6
    assert llm_server.chat_completions == requests  # counted at the server's door
    assert llm_server.metrics()["llamacpp:tokens_predicted_total"] == predicted


def test_pool_runs_concurrently(llm_server: LocalLLM) -> None:
    pairs = [
        Pair(f"q{i}", f"d{j}", query, text)
        for i, query in enumerate(QUERIES)
        for j, text in enumerate(EXCHANGES)
    ]
    seen: list[tuple[int, int]] = []
    result = grade_pool(
        pairs,
        [grader("smol", llm_server.endpoint())],
        concurrency=3,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(pairs) == 12
    assert seen == [(n, 12) for n in range(1, 13)]
    assert result.calls == 12
    assert all(row["smol"] in (*GRADES, None) for row in result.grades.values())
    assert result.ungraded <= 1  # the tiny model may ramble past max_tokens, rarely


# --- the prompt, the cache, the pool's rules (no server needed) ---------------------------


def test_prompt_cuts_the_text_and_is_versioned() -> None:
    judge = LLMGrader("x", Endpoint("http://127.0.0.1:9/v1", "m"), max_chars=10)
    system, user = judge.messages("the query", "0123456789abcdef")
    assert "0 = not relevant" in system["content"] and "2 = answers" in system["content"]
    assert "0123456789" + CUT_MARK in user["content"] and "abcdef" not in user["content"]
    with pytest.raises(ConfigError, match="unknown grading prompt"):
        LLMGrader("x", Endpoint("http://127.0.0.1:9/v1", "m"), prompt_version="nope")


def test_pool_rejects_bad_settings() -> None:
    endpoint = Endpoint("http://127.0.0.1:9/v1", "m")
    with pytest.raises(ConfigError, match="share a name"):
        grade_pool([], [LLMGrader("a", endpoint), LLMGrader("a", endpoint)])
    with pytest.raises(ConfigError, match="concurrency"):
        grade_pool([], [LLMGrader("a", endpoint)], concurrency=0)


# --- consensus and agreement, by hand ----------------------------------------------------


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ([2, 2, 0], 2),  # majority
        ([1, None, 1, 0], 1),  # majority among those who answered
        ([0, 2], 1),  # tie: mean 1
        ([0, 1], 1),  # tie: mean 0.5, rounded half up
        ([1, 2], 2),  # tie: mean 1.5, rounded half up
        ([0, 0, 1, 1, 2], 1),  # tie 0/1: mean 0.8
        ([0, 0, 2, 2, None], 1),  # tie: mean of the answered, 1
        ([2], 2),
        ([None, None], None),  # all ungraded
        ([], None),
    ],
)
def test_consensus(grades: list[int | None], expected: int | None) -> None:
    assert consensus(grades) == expected


def test_consensus_takes_a_mapping() -> None:
    assert consensus({"a": 0, "b": None, "c": 0}) == 0


def test_alpha_on_a_hand_computed_matrix() -> None:
    # Units (a, b): (0,0) (1,1) (2,1) (2,2); coincidences o00=2 o11=2 o12=o21=1 o22=2,
    # n=(2,3,3), N=8. Ordinal d2: d01=6.25 d12=9 d02=30.25. Do=18, De=2*(2*3*6.25 +
    # 3*3*9 + 2*3*30.25)=600: alpha = 1 - 7*18/600 = 0.79. Pairwise: 3 of 4 agree.
    grades = {
        "u1": {"a": 0, "b": 0},
        "u2": {"a": 1, "b": 1},
        "u3": {"a": 2, "b": 1},
        "u4": {"a": 2, "b": 2},
    }
    result = agreement(grades)
    assert result.alpha == pytest.approx(0.79)
    assert result.pairwise_pct == pytest.approx(75.0)
    assert (result.graders, result.units) == (2, 4)


def test_alpha_with_missing_grades_matches_krippendorff() -> None:
    grades = {
        "u1": {"a": 0, "b": 0, "c": None},
        "u2": {"a": 1, "b": 1, "c": 1},
        "u3": {"a": 2, "b": 1, "c": 2},
        "u4": {"a": 2, "b": None, "c": 2},
        "u5": {"a": None, "b": 0, "c": 1},
        "u6": {"a": 1, "b": None, "c": None},  # one grade: not a unit
    }
    nan = np.nan
    matrix = [[0, 1, 2, 2, nan, 1], [0, 1, 1, nan, 0, nan], [nan, 1, 2, 2, 1, nan]]
    expected = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal")
    result = agreement(grades, ["a", "b", "c"])
    assert result.alpha == pytest.approx(expected)
    assert result.units == 5
    # pairs of graders per unit: u1 1/1, u2 3/3, u3 1/3, u4 1/1, u5 0/1 -> 6 of 9
    assert result.pairwise_pct == pytest.approx(100 * 6 / 9)


def test_agreement_not_applicable() -> None:
    one = agreement({"u1": {"a": 1}, "u2": {"a": 2}})
    assert one.alpha is None and one.pairwise_pct is None and "one grader" in one.note
    apart = agreement({"u1": {"a": 1, "b": None}, "u2": {"a": None, "b": 2}})
    assert apart.alpha is None and apart.units == 0
    same = agreement({"u1": {"a": 1, "b": 1}, "u2": {"a": 1, "b": 1}})
    assert same.alpha is None and same.pairwise_pct == 100.0 and "undefined" in same.note
    assert same.as_json()["krippendorff_alpha_ordinal"] is None


# --- labels ------------------------------------------------------------------------------


def test_label_grader_maps_messages_to_exchanges() -> None:
    exchange_of = {"m1": "m1", "m2": "m1", "m3": "m3", "m4": ["m3", "x7"]}
    labels = LabelGrader(exchange_of.get)
    grades, unknown = labels.judge({"m1": 1, "m2": 2, "m3": 1, "m4": 1, "gone": 2, "m9": 1})
    assert grades == {"m1": 2, "m3": 1, "x7": 1}  # an exchange takes its best message
    assert unknown == ["gone", "m9"]


def test_label_grader_accepts_a_raising_lookup() -> None:
    exchange_of = {"m1": "m1"}
    grades, unknown = LabelGrader(exchange_of.__getitem__).judge({"m1": 2, "nope": 1})
    assert grades == {"m1": 2} and unknown == ["nope"]
