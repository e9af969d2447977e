"""Structured JSON answers from any OpenAI-compatible chat endpoint.

One call, `complete_json`, serves every LLM path (the eval graders, the LLM distiller):
it asks for output constrained by a JSON schema, falls back to JSON mode, then to a plain
prompt, on servers that refuse the better way (and remembers that per endpoint),
validates the answer against the schema, and retries transport failures and invalid
answers with backoff. What still fails after the retries is raised as `LLMError`, naming
the endpoint, the model and why.

Works against OpenAI, Ollama, vLLM, llama.cpp and LM Studio; nothing connects at import.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from memdistill.errors import DependencyError, LLMError

try:
    import jsonschema
    import openai
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception_type,
        stop_after_attempt,
        wait_exponential,
        wait_random,
    )
except ImportError as exc:  # the LLM paths are optional; say how to turn them on
    raise DependencyError(
        f"the LLM client needs {exc.name}: pip install 'memdistill[llm]'"
    ) from exc

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

# A local server needs no key, but the SDK refuses to build a client without one.
PLACEHOLDER_KEY = "not-needed"
MAX_BACKOFF_S = 8.0

Message = Mapping[str, str]  # {"role": ..., "content": ...}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to ask. The API key is read from the variable `api_key_env` names, at
    call time; when it is unset (or `api_key_env` is ""), a placeholder goes: local servers
    (llama.cpp, Ollama, vLLM, LM Studio) need no key."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    temperature: float | None = 0.0  # None: not sent (some reasoning models refuse it)
    max_retries: int = 3  # retries after the first attempt
    backoff: float = 0.5  # first wait (s); doubles up to MAX_BACKOFF_S, plus up to this again
    # After an invalid answer, retry at least this warm: asked the same way, a greedy model
    # answers the same way. None: retry as asked (deterministic tests want that).
    retry_temperature: float | None = 0.5

    def describe(self) -> str:
        return f"model {self.model!r} at {self.base_url}"


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens as the server reported them, summed over every attempt of one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.requests + other.requests,
        )


# How _parse and the caller's check word a bad answer (as opposed to no answer).
ANSWER_FAULTS = ("answer ",)


class _Retryable(Exception):
    """An attempt failed in a way another attempt may not (transport, server, bad answer)."""


_clients: dict[tuple[str, str, float], openai.OpenAI] = {}
# How to ask for JSON, best first; an endpoint that refuses one is asked the next way from
# then on: structured output, JSON mode (OpenAI's older servers, Ollama), a plain prompt
# (LM Studio refuses json_object). The last two carry the schema in the prompt.
MODES = ("json_schema", "json_object", "text")
_PLAIN_FORMATS: tuple[dict[str, Any] | None, ...] = (None, {"type": "json_object"}, None)
_mode_of: dict[tuple[str, str], int] = {}  # (base_url, model) -> index into MODES
_lock = threading.Lock()


def complete_json(
    endpoint: Endpoint,
    messages: Sequence[Message],
    schema: dict[str, Any],
    *,
    name: str,
    max_tokens: int | None = None,
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], Usage]:
    """Ask `endpoint` for one JSON object valid against `schema`; return it and the usage.

    `name` names the schema for the server (letters, digits, `_` and `-`). `check`, when
    given, validates (and may repair) the answer instead of `schema`, which then only
    guides the server; a `ValueError` from it means an invalid answer, to retry. Raises
    `LLMError` once the retries are spent, or at once for errors a retry cannot fix
    (bad key, unknown model, a request the server refuses in every mode of MODES).
    """
    call = _Call(endpoint, messages, schema, name, max_tokens, endpoint.temperature, check)
    retrying = Retrying(
        stop=stop_after_attempt(endpoint.max_retries + 1),
        wait=wait_exponential(multiplier=endpoint.backoff, max=MAX_BACKOFF_S)
        + wait_random(0, endpoint.backoff),
        retry=retry_if_exception_type(_Retryable),
    )
    try:
        for attempt in retrying:
            with attempt:
                return call.attempt(), call.usage
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        error = LLMError(
            f"{endpoint.describe()} gave no valid answer in "
            f"{endpoint.max_retries + 1} attempts: {cause}"
        )
        error.usage = call.usage  # failed attempts cost tokens too
        error.kind = "answer" if str(cause).startswith(ANSWER_FAULTS) else "transport"
        raise error from cause
    raise AssertionError("unreachable: tenacity either returns or raises")


@dataclass
class _Call:
    """One `complete_json` call, across its attempts."""

    endpoint: Endpoint
    messages: Sequence[Message]
    schema: dict[str, Any]
    name: str
    max_tokens: int | None
    temperature: float | None
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    usage: Usage = Usage()  # failed attempts add to it too: they cost the same

    def __post_init__(self) -> None:
        self.validator = jsonschema.Draft202012Validator(self.schema)

    def attempt(self) -> dict[str, Any]:
        completion = self._request()
        reported = completion.usage
        self.usage += Usage(
            reported.prompt_tokens if reported else 0,
            reported.completion_tokens if reported else 0,
            1,
        )
        try:
            data = _parse(completion, None if self.check else self.validator)
            if self.check is None:
                return data
            try:
                return self.check(data)
            except ValueError as exc:
                raise _Retryable(f"answer failed validation: {exc}") from exc
        except _Retryable:
            warm = self.endpoint.retry_temperature
            if warm is not None and self.temperature is not None:
                self.temperature = max(self.temperature, warm)
            raise

    def _request(self) -> ChatCompletion:
        """One request, in the best JSON mode the endpoint has not refused."""
        endpoint = self.endpoint
        key = (endpoint.base_url, endpoint.model)
        start = _mode_of.get(key, 0)
        refused: openai.APIStatusError | None = None
        for mode in range(start, len(MODES)):
            fmt = _schema_format(self.schema, self.name) if mode == 0 else _PLAIN_FORMATS[mode]
            asked = self.messages if mode == 0 else with_schema_hint(self.messages, self.schema)
            try:
                completion = _create(endpoint, asked, fmt, self.max_tokens, self.temperature)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                refused = exc  # maybe this server lacks the mode: try the next one
                continue
            if mode != start:
                with _lock:
                    _mode_of[key] = max(mode, _mode_of.get(key, 0))
            return completion
        tried = ", ".join(MODES[start:])
        raise LLMError(f"{endpoint.describe()} refused the request ({tried}): {refused}")


def _create(
    endpoint: Endpoint,
    messages: Sequence[Message],
    response_format: dict[str, Any] | None,
    max_tokens: int | None,
    temperature: float | None,
) -> ChatCompletion:
    """One request (`response_format=None`: none sent). Failures a retry may fix become
    `_Retryable`; a refused request (400, 422) propagates; other client errors: `LLMError`."""
    try:
        completion = _client(endpoint).chat.completions.create(
            model=endpoint.model,
            messages=cast("list[ChatCompletionMessageParam]", [dict(m) for m in messages]),
            temperature=openai.omit if temperature is None else temperature,
            response_format=openai.omit
            if response_format is None
            else cast("ResponseFormat", response_format),
            max_tokens=openai.omit if max_tokens is None else max_tokens,
        )
    except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
        # APIConnectionError covers refused connections and timeouts (APITimeoutError).
        raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
    except (openai.BadRequestError, openai.UnprocessableEntityError):
        raise  # the caller decides: fall back to JSON mode, or give up
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise LLMError(
            f"{endpoint.describe()} refused the API key ({exc}); set {endpoint.api_key_env}"
        ) from exc
    except openai.NotFoundError as exc:
        raise LLMError(
            f"{endpoint.describe()}: not found ({exc}); check the model name and that the "
            "base URL ends with the API prefix (often /v1)"
        ) from exc
    except openai.APIStatusError as exc:
        raise _Retryable(f"HTTP {exc.status_code}: {exc}") from exc
    except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
        raise _Retryable(f"unreadable response: {exc}") from exc
    # With a non-JSON content type the SDK hands back the raw text instead of a completion.
    if isinstance(completion, str) or not getattr(completion, "choices", None):
        raise _Retryable(f"not a chat completion: {str(completion)[:200]!r}")
    return completion


def _parse(
    completion: ChatCompletion, validator: jsonschema.protocols.Validator | None
) -> dict[str, Any]:
    choice = completion.choices[0]
    content = choice.message.content or ""
    if choice.finish_reason == "length":
        raise _Retryable(f"answer cut at max_tokens: {content[:200]!r}")
    try:
        data = loads_json(content)
    except json.JSONDecodeError as exc:
        raise _Retryable(f"answer is not JSON ({exc}): {content[:200]!r}") from exc
    if not isinstance(data, dict):
        raise _Retryable(f"answer is not a JSON object: {content[:200]!r}")
    if validator is None:
        return data
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        raise _Retryable(f"answer does not fit the schema ({error.message}): {content[:200]!r}")
    return data


def loads_json(text: str) -> Any:
    """The JSON in an answer. Without structured output, models wrap it in a Markdown
    fence or talk after it: take the first JSON value from the first brace on."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start = text.find("{")
        if start < 0:
            raise
        return json.JSONDecoder().raw_decode(text, start)[0]


def _schema_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def with_schema_hint(messages: Sequence[Message], schema: dict[str, Any]) -> list[dict[str, str]]:
    """JSON mode does not carry the schema, so the prompt must (and must say "JSON").

    Put in words, not as the schema itself (small models copy a schema back), and added to
    the last user turn: some chat templates refuse a system turn after the first.
    """
    hint = f"Answer with one JSON {_describe(schema)}."
    asked = [dict(m) for m in messages]
    if asked and asked[-1].get("role") == "user":
        asked[-1]["content"] = f"{asked[-1].get('content', '')}\n\n{hint}"
    else:
        asked.append({"role": "user", "content": hint})
    return asked


def _describe(schema: Mapping[str, Any]) -> str:
    """`{"type": "object", "properties": {"n": {"enum": [0, 1]}}}` -> 'object with keys "n"
    (one of 0, 1)'."""
    if "enum" in schema:
        text = "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
    elif schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
        keys = ", ".join(f'"{k}" ({_describe(v)})' for k, v in schema["properties"].items())
        text = f"object with keys {keys}"
    elif schema.get("type") == "array":
        text = f"array of {_describe(schema.get('items') or {})}"
    elif isinstance(schema.get("type"), list):
        text = " or ".join(str(t) for t in schema["type"])
    else:
        text = str(schema.get("type", "any JSON value"))
    description = schema.get("description")
    return f"{text}: {description}" if description else text


def _client(endpoint: Endpoint) -> openai.OpenAI:
    """One client per (base URL, key, timeout): it pools connections and is thread-safe."""
    api_key = os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else ""
    key = (endpoint.base_url, api_key or PLACEHOLDER_KEY, endpoint.timeout)
    with _lock:
        client = _clients.get(key)
        if client is None:
            # max_retries=0: tenacity is the one retry layer, so attempts are counted once.
            client = openai.OpenAI(
                base_url=endpoint.base_url,
                api_key=key[1],
                timeout=endpoint.timeout,
                max_retries=0,
            )
            _clients[key] = client
    return client


def json_mode(endpoint: Endpoint) -> str:
    """How this process now asks `endpoint` for JSON: one of MODES."""
    return MODES[_mode_of.get((endpoint.base_url, endpoint.model), 0)]
