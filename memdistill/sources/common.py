"""Helpers every parser shares: reading JSON and JSONL safely, timestamps, content blocks.

Parsed JSON never holds a lone UTF-16 surrogate (SQLite cannot store one): `loads` turns
each into U+FFFD.

Each helper turns odd input into a `Problem` or a `FormatError` with a line number, so the
parsers themselves never meet a raw `json.JSONDecodeError` or a missing key.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from memdistill.errors import FormatError
from memdistill.models import Message, Problem, ToolCall
from memdistill.sources.base import ProblemSink
from memdistill.tools import command_line

JSONObject = dict[str, Any]

# JSON escapes of UTF-16 surrogates (an emoji cut in half by a JavaScript writer decodes to
# a lone one, which SQLite refuses): only text holding one needs `_without_surrogates`.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Real content nests a few levels; deeper input is garbage and must not exhaust the stack.
_MAX_DEPTH = 32

# Epoch values above this are milliseconds (1e11 seconds is the year 5138).
_MILLIS_THRESHOLD = 1e11


def read_text(path: Path) -> str:
    """The file as text; undecodable bytes become U+FFFD rather than an exception."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FormatError(f"cannot read the file: {exc.strerror or exc}", path=str(path)) from exc
    return text.removeprefix("\ufeff")


def read_json(path: Path) -> Any:
    """One JSON document, or a FormatError saying where json stopped understanding it."""
    text = read_text(path)
    try:
        return loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            " (is the file truncated?)",
            path=str(path),
            line=exc.lineno,
        ) from exc
    except RecursionError as exc:
        raise FormatError("JSON nested too deeply to read", path=str(path)) from exc


def loads(text: str) -> Any:
    """`json.loads`, with lone UTF-16 surrogates ("\\ud83d" alone) replaced by U+FFFD.

    A lone surrogate decodes into a str that cannot be encoded as UTF-8, so SQLite (and any
    file write) would refuse it; the check on the raw text keeps the usual case free.
    """
    value = json.loads(text)
    if _SURROGATE_ESCAPE.search(text):
        value = _without_surrogates(value)
    return value


def _without_surrogates(value: Any) -> Any:
    """`value` with every string's lone surrogates replaced, through dicts and lists.

    Parsed JSON is fresh, so containers are changed in place, depth first without
    recursion (any depth json.loads accepted is fine).
    """
    if isinstance(value, str):
        return _clean(value)
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            if any(_SURROGATE.search(key) for key in container):
                items = list(container.items())
                container.clear()
                container.update((_clean(key), item) for key, item in items)
            entries: Iterable[tuple[Any, Any]] = container.items()
        elif isinstance(container, list):
            entries = enumerate(container)
        else:
            continue
        for key, item in list(entries):
            if isinstance(item, str):
                container[key] = _clean(item)
            elif isinstance(item, dict | list):
                stack.append(item)
    return value


def _clean(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def iter_jsonl(path: Path, problems: ProblemSink) -> Iterator[tuple[int, JSONObject]]:
    """Yield (1-based line, object) for each readable line; report the others.

    Raises FormatError at the end when the file had content but no line could be read.
    """
    text = read_text(path)
    lines = text.split("\n")
    good = 0
    first_bad: int | None = None
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            value = loads(raw)
        except (json.JSONDecodeError, RecursionError) as exc:
            first_bad = first_bad or lineno
            problems(Problem(str(path), lineno, _line_error(exc, last=lineno == len(lines))))
            continue
        if not isinstance(value, dict):
            first_bad = first_bad or lineno
            kind = type(value).__name__
            problems(Problem(str(path), lineno, f"expected a JSON object, got {kind}; skipped"))
            continue
        good += 1
        yield lineno, value
    if good == 0 and first_bad is not None:
        raise FormatError(
            "no line of this JSONL file could be read", path=str(path), line=first_bad
        )


def _line_error(exc: ValueError | RecursionError, *, last: bool) -> str:
    if not isinstance(exc, json.JSONDecodeError):
        return "JSON line nested too deeply, skipped"
    # the last line with no newline after it is one still being written
    what = "truncated last line" if last else "malformed JSON line"
    return f"{what}, skipped: {exc.msg} at column {exc.colno}"


def parse_timestamp(value: object) -> datetime | None:
    """ISO 8601 text or epoch seconds/milliseconds -> aware UTC datetime.

    None and "" give None; anything else unreadable raises ValueError.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > _MILLIS_THRESHOLD else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError) as exc:
            raise ValueError(f"timestamp out of range: {value!r}") from exc
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip())  # 3.11 accepts "Z" and fractions
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)  # a bare time is taken as UTC
        try:
            return parsed.astimezone(UTC)
        except OverflowError as exc:  # year 1 at +05:00 has no UTC equivalent
            raise ValueError(f"timestamp out of range: {value!r}") from exc
    raise ValueError(f"not a timestamp: {value!r}")


def timestamp_or_report(
    value: object, problems: ProblemSink, path: Path, line: int | None
) -> datetime | None:
    """`parse_timestamp`, with a Problem instead of an exception for bad values."""
    try:
        return parse_timestamp(value)
    except ValueError:
        problems(Problem(str(path), line, f"unreadable timestamp {value!r}; left empty"))
        return None


def text_from_content(content: object, _depth: int = 0) -> str:
    """Text of a string, a content block, or a list of blocks (Anthropic/OpenAI shapes).

    Images and files become short placeholders so the reader knows something was there.
    """
    if content is None or _depth > _MAX_DEPTH:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = (text_from_content(item, _depth + 1) for item in content)
        return "\n".join(p for p in parts if p)
    if isinstance(content, dict):
        kind = content.get("type")
        text = content.get("text")
        if isinstance(text, str):
            return text
        if isinstance(kind, str):
            if "image" in kind:
                return "[image]"
            if kind in ("document", "file", "input_file"):
                return "[file]"
        if "content" in content:  # a nested tool_result block
            return text_from_content(content["content"], _depth + 1)
    return ""


def tool_call_text(name: str, arguments: JSONObject) -> str:
    """A tool call's message text: the command line for shell tools, else the JSON input."""
    command = command_line(name, arguments)
    return dumps(arguments) if command is None else command


def dumps(value: object, *, sort_keys: bool = False) -> str:
    """JSON text of parsed input; "" for structures nested past the encoder's limit."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=sort_keys, default=str)
    except RecursionError:
        return ""


def parse_arguments(raw: object) -> JSONObject:
    """Function-call arguments (a JSON string in OpenAI shapes) as a dict, never failing."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        try:
            value = loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return {"arguments": raw}
        return value if isinstance(value, dict) else {"arguments": value}
    return {} if raw is None else {"arguments": raw}


def tool_call_message(
    source_id: str,
    name: str,
    arguments: JSONObject,
    call_id: str | None,
    *,
    timestamp: datetime | None,
    line: int | None,
    text: str | None = None,
) -> Message:
    return Message(
        source_id=source_id,
        role="assistant",
        kind="tool_call",
        text=tool_call_text(name, arguments) if text is None else text,
        timestamp=timestamp,
        tool=ToolCall(name=name, input=arguments, call_id=call_id),
        line=line,
    )


def str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def dict_or_empty(value: object) -> JSONObject:
    return value if isinstance(value, dict) else {}


def short_hash(*parts: str) -> str:
    """A stable 16-hex digest of some text, for ids that the source does not provide."""
    return hashlib.sha1("\x00".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def starts_with_any(text: str, prefixes: tuple[str, ...]) -> bool:
    return text.lstrip().startswith(prefixes)


_JSON_HEAD = re.compile(r"^\s*[\[{]")


def looks_like_json(head: str) -> bool:
    return bool(_JSON_HEAD.match(head))


def is_json_lines(path: Path) -> bool:
    """Whether the first line alone is a JSON object (a JSONL file), not part of a document."""
    first = read_text(path).lstrip().split("\n", 1)[0]
    try:
        return isinstance(json.loads(first), dict)
    except (json.JSONDecodeError, RecursionError):
        return False
