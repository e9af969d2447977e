"""Structured JSON answers from a LangChain chat model, for LangChain users who already
hold one (ChatAnthropic, ChatBedrock, ChatOllama, ChatOpenAI, ...).

The same contract as `llm.complete_json`, asked the way every chat model understands: the
schema described in the prompt (no provider-specific structured-output switch), the answer
parsed leniently, checked by the caller, retried with tenacity. LangChain wraps each
provider's errors in its own exceptions, so every failure of a call counts as retryable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tenacity import RetryError, Retrying, stop_after_attempt, wait_exponential

from memdistill.errors import LLMError
from memdistill.llm import MAX_BACKOFF_S, Message, Usage, loads_json, with_schema_hint


def model_name(chat_model: Any) -> str:
    """What the model calls itself (`model_name` or `model`), else its class name."""
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(chat_model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__


def describe(chat_model: Any) -> str:
    return f"LangChain {type(chat_model).__name__} ({model_name(chat_model)})"


def complete_json_langchain(
    chat_model: Any,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    check: Callable[[dict[str, Any]], dict[str, Any]],
    max_retries: int = 2,
    backoff: float = 0.5,
) -> tuple[dict[str, Any], Usage]:
    """Ask `chat_model` for one JSON object that `check` accepts; the answer and usage.
    Raises `LLMError` (with `.usage`) once the retries are spent."""
    asked = with_schema_hint(messages, schema)
    spent = [Usage()]

    def attempt() -> dict[str, Any]:
        reply = chat_model.invoke(asked)
        tokens = getattr(reply, "usage_metadata", None) or {}
        spent[0] += Usage(tokens.get("input_tokens", 0), tokens.get("output_tokens", 0), 1)
        content = reply.content if isinstance(reply.content, str) else _text(reply.content)
        data = loads_json(content)
        if not isinstance(data, dict):
            raise ValueError(f"answer is not a JSON object: {content[:200]!r}")
        return check(data)

    retrying = Retrying(
        stop=stop_after_attempt(max_retries + 1),
        wait=wait_exponential(multiplier=backoff, max=MAX_BACKOFF_S),
    )
    try:
        for try_ in retrying:
            with try_:
                return attempt(), spent[0]
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        error = LLMError(
            f"{describe(chat_model)} gave no valid answer in {max_retries + 1} attempts: "
            f"{type(cause).__name__}: {cause}"
        )
        error.usage = spent[0]
        # An answer that did not parse or check is the model's; anything else, the call's.
        error.kind = "answer" if isinstance(cause, ValueError) else "transport"
        raise error from cause
    raise AssertionError("unreachable: tenacity either returns or raises")


def _text(parts: Any) -> str:
    """Content given as a list of blocks (Anthropic's shape): their text, joined."""
    if isinstance(parts, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in parts)
    return json.dumps(parts)
