"""memdistill.llm against a real llama.cpp server, with a real faulty proxy where needed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from fault_proxy import FaultProxy

from memdistill.errors import MemdistillError
from memdistill.llm import (
    Endpoint,
    LLMError,
    _client,
    _describe,
    complete_json,
    json_mode,
    loads_json,
)

if TYPE_CHECKING:  # imported by pytest as a plugin, so that its asserts are rewritten
    from llm_server import LlamaServer, LocalLLM


SCHEMA = {
    "type": "object",
    "properties": {
        "grade": {"type": "integer", "enum": [0, 1, 2]},
        "reason": {"type": "string"},
    },
    "required": ["grade", "reason"],
    "additionalProperties": False,
}
MESSAGES = [
    {"role": "system", "content": "Grade how relevant the text is to the query, 0 to 2."},
    {"role": "user", "content": "Query: sky colour\nText: the sky is blue"},
]
MAX_TOKENS = 64
# Retries as greedy as the first try, so the real answer after the faults is the same each
# run (warmer retries let the tiny model ramble past MAX_TOKENS now and then).
GREEDY: dict[str, Any] = {"api_key_env": "", "backoff": 0.05, "retry_temperature": None}

ProxyFactory = Callable[..., FaultProxy]


def ask(endpoint: Endpoint) -> dict[str, Any]:
    data, _ = complete_json(endpoint, MESSAGES, SCHEMA, name="grade", max_tokens=MAX_TOKENS)
    return data


def test_round_trip_with_schema(llm_server: LocalLLM) -> None:
    before = llm_server.chat_completions
    data, usage = complete_json(
        llm_server.endpoint(), MESSAGES, SCHEMA, name="grade", max_tokens=MAX_TOKENS
    )
    assert data["grade"] in {0, 1, 2}
    assert isinstance(data["reason"], str)
    assert usage.requests == 1
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert llm_server.chat_completions == before + 1
    assert json_mode(llm_server.endpoint()) == "json_schema"  # llama.cpp takes it


def test_falls_back_to_json_mode_and_remembers(fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(reject_json_schema=True)  # answers 400, as servers without it do
    endpoint = Endpoint(proxy.base_url, "smollm2-135m", **GREEDY)
    assert ask(endpoint)["grade"] in {0, 1, 2}
    assert json_mode(endpoint) == "json_object"
    assert ask(endpoint)["grade"] in {0, 1, 2}
    assert proxy.rejected == 1  # the second call went straight to JSON mode
    assert proxy.chat_completions == 2


@pytest.mark.parametrize("mode", ["content", "body"])
def test_garbled_answers_are_retried(fault_proxy: ProxyFactory, mode: str) -> None:
    proxy = fault_proxy(garble_first=2, garble_mode=mode)
    endpoint = Endpoint(proxy.base_url, "smollm2-135m", **GREEDY)
    data, usage = complete_json(endpoint, MESSAGES, SCHEMA, name="grade", max_tokens=MAX_TOKENS)
    assert data["grade"] in {0, 1, 2}
    assert proxy.garbled == 2
    assert proxy.chat_completions == 3
    # A garbled answer still reports its tokens; a garbled HTTP body reports nothing.
    assert usage.requests == (3 if mode == "content" else 1)


def test_garbled_beyond_the_retries_is_an_llm_error(fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(garble_fraction=1.0)
    endpoint = Endpoint(proxy.base_url, "smollm2-135m", max_retries=1, **GREEDY)
    with pytest.raises(LLMError, match=r"smollm2-135m.*127\.0\.0\.1.*2 attempts.*not JSON"):
        ask(endpoint)
    assert proxy.chat_completions == 2
    assert issubclass(LLMError, MemdistillError)


def test_dead_server_gives_llm_error_in_bounded_time(dying_llm_server: LlamaServer) -> None:
    endpoint = Endpoint(
        dying_llm_server.base_url, dying_llm_server.model, api_key_env="", backoff=0.05
    )
    assert ask(endpoint)["grade"] in {0, 1, 2}
    dying_llm_server.kill()
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"4 attempts.*Connection error"):
        ask(endpoint)
    assert time.monotonic() - started < 10


def test_server_dying_mid_run(dying_llm_server: LlamaServer, fault_proxy: ProxyFactory) -> None:
    """What issue 4's ingest meets: answers, then a crash, then only errors."""
    proxy = fault_proxy(
        dying_llm_server.url,
        after_response=lambda n: dying_llm_server.kill() if n == 2 else None,
    )
    endpoint = Endpoint(proxy.base_url, "smollm2-135m", max_retries=1, **GREEDY)
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(ask(endpoint)["grade"] in {0, 1, 2})
        except LLMError as exc:
            assert "502" in str(exc)  # the proxy's answer for an unreachable upstream
            outcomes.append(False)
    assert outcomes == [True, True, False, False]
    assert not dying_llm_server.alive


def test_timeout_gives_llm_error(fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy(delay_first=10, delay_s=5.0)
    endpoint = Endpoint(
        proxy.base_url, "smollm2-135m", api_key_env="", timeout=0.5, max_retries=1, backoff=0.05
    )
    started = time.monotonic()
    with pytest.raises(LLMError, match=r"2 attempts.*APITimeoutError"):
        ask(endpoint)
    assert time.monotonic() - started < 4
    assert proxy.delayed == 2


def test_client_errors_are_not_retried(fault_proxy: ProxyFactory) -> None:
    proxy = fault_proxy()
    endpoint = Endpoint(proxy.url + "/no/such/prefix", "smollm2-135m", api_key_env="")
    with pytest.raises(LLMError, match=r"not found.*base URL"):
        ask(endpoint)
    assert proxy.received == 1


def test_one_client_per_endpoint(llm_server: LocalLLM) -> None:
    endpoint = llm_server.endpoint()
    assert _client(endpoint) is _client(llm_server.endpoint())
    assert _client(endpoint) is not _client(llm_server.endpoint(timeout=1.0))


def test_answers_outside_structured_output_are_read() -> None:
    assert loads_json('```json\n{"grade": 1}\n```') == {"grade": 1}
    assert loads_json('Sure! {"grade": 2, "reason": "x"} Hope it helps.') == {
        "grade": 2,
        "reason": "x",
    }
    with pytest.raises(ValueError):
        loads_json("no JSON here")


def test_schema_in_words() -> None:
    assert _describe(SCHEMA) == 'object with keys "grade" (one of 0, 1, 2), "reason" (string)'
    nested = {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}
    assert _describe(nested) == 'array of object with keys "k" (string)'
