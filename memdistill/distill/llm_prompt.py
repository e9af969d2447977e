"""What the LLM distiller asks, and how it checks and repairs the answer.

The prompt is versioned: a new wording is a new entry in PROMPTS, and the version is part
of the cache key and of the distiller's name, so answers to different prompts never mix.
The schema guides servers that constrain output to it; the pydantic model is the real
check, lenient where a repair is safe (clamp, trim, drop extra rooms) and strict where it
is not (no core, no room), which the client then retries.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from memdistill.distill.text import sentences, trim
from memdistill.errors import DependencyError
from memdistill.models import FileTouch, Room

try:
    from pydantic import BaseModel, Field, ValidationError, field_validator
except ImportError as exc:  # the LLM paths are optional; say how to turn them on
    raise DependencyError(
        "the LLM distiller needs pydantic: pip install 'memdistill[llm]'"
    ) from exc

PROMPT_VERSION = "v1"
MAX_ROOMS = 3
CORE_MAX_WORDS = 60
CONTEXT_MAX_CHARS = 200
GROUNDED_SHARE = 0.25  # of the core's words that must come from the exchange
ROOM_TYPES = ("file", "concept", "workflow")

# version -> (system, user template, a worked example: (exchange, answer)). The example
# shows the shape and the grain more reliably than any description, for small models most.
PROMPTS: dict[str, tuple[str, str, tuple[str, str]]] = {
    "v1": (
        "You turn one exchange between a person and an AI agent into a compact memory that "
        "the person will later search. Use the exchange's own words and invent nothing.\n"
        "- exchange_core: 1-2 sentences: what was asked, and what was done, decided or "
        "found. Keep names, identifiers and numbers.\n"
        "- specific_context: one concrete detail copied exactly from the exchange: an "
        "error message, a number, a parameter, a command or a file name.\n"
        "- room_assignments: 1-3 themes that group related exchanges, specific rather "
        "than general (retry_timeout, not errors). type is concept, workflow or file; "
        "key is a short snake_case name; label is a few words; relevance is 0 to 1.",
        "The exchange:\n<<<\n{text}\n>>>",
        (
            "user: uploads to S3 hang forever when the network drops\n\n"
            "assistant: The client retried without a limit. I set retry_timeout=30 and "
            "max_retries=5 in upload/client.py; a dropped network now fails after 30 s with "
            "ReadTimeoutError.",
            '{"exchange_core": "S3 uploads hung forever when the network dropped; set '
            'retry_timeout=30 and max_retries=5 so they fail after 30 s.", '
            '"specific_context": "retry_timeout=30", "room_assignments": [{"type": "concept", '
            '"key": "retry_timeout", "label": "Upload retry timeout", "relevance": 0.9}, '
            '{"type": "file", "key": "upload/client.py", "label": "client.py", '
            '"relevance": 0.6}]}',
        ),
    ),
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "exchange_core": {"type": "string", "description": "1-2 sentences"},
        "specific_context": {"type": "string", "description": "one detail copied exactly"},
        "room_assignments": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ROOMS,
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": list(ROOM_TYPES)},
                    "key": {"type": "string"},
                    "label": {"type": "string"},
                    "relevance": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["type", "key", "label", "relevance"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["exchange_core", "specific_context", "room_assignments"],
    "additionalProperties": False,
}


def messages(text: str, version: str = PROMPT_VERSION) -> list[dict[str, str]]:
    system, user, (example, answer) = PROMPTS[version]
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": user.format(text=example)},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": user.format(text=text)},
    ]


class _RoomAnswer(BaseModel):
    type: str = "concept"
    key: str = ""
    label: str = ""
    relevance: float = 0.5

    @field_validator("type", "key", "label", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("relevance", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        try:
            return float(value)
        except (TypeError, ValueError):
            return 0.5  # null, "", "high": unknown, so middling


class _Answer(BaseModel):
    exchange_core: str = Field(min_length=1)
    specific_context: str = ""
    room_assignments: list[_RoomAnswer | str] = Field(min_length=1)

    @field_validator("specific_context", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("room_assignments", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, (dict, str)) else value


@dataclass(slots=True)
class Answer:
    """A checked answer; `repairs` says what was changed to make it fit."""

    exchange_core: str
    specific_context: str
    rooms: list[Room]
    repairs: list[str]


def check(
    data: dict[str, Any], source_text: str, files: Sequence[FileTouch], project: str | None
) -> Answer:
    """Validate and repair one answer. Raises ValueError when no repair can save it: the
    core is missing or empty, or no usable room is left."""
    try:
        raw = _Answer.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_short(exc)) from None
    repairs: list[str] = []
    core = " ".join(raw.exchange_core.split())
    if sum(c.isalpha() for c in core) < 4:  # "", ",", "1-2": nothing to search by
        raise ValueError(f"exchange_core has no words: {core[:40]!r}")
    if not _grounded(core, source_text):
        raise ValueError(f"exchange_core uses too few of the exchange's words: {core[:60]!r}")
    kept = " ".join(sentences(core)[:2]) or core
    if len(kept.split()) > CORE_MAX_WORDS:
        kept = trim(kept, CORE_MAX_WORDS)
    if kept != core:
        repairs.append("exchange_core trimmed to 2 sentences and 60 words")
    context = " ".join(raw.specific_context.split()).strip("\"'` ")
    if len(context) > CONTEXT_MAX_CHARS:
        context = context[:CONTEXT_MAX_CHARS].rstrip()
        repairs.append("specific_context cut to 200 characters")
    if context and not _copied(context, source_text):
        repairs.append("specific_context not found in the exchange: dropped")
        context = ""
    rooms = _rooms(raw.room_assignments, files, project, repairs)
    if not rooms:
        raise ValueError("no usable room in room_assignments")
    return Answer(exchange_core=kept, specific_context=context, rooms=rooms, repairs=repairs)


def _rooms(
    answers: Sequence[_RoomAnswer | str],
    files: Sequence[FileTouch],
    project: str | None,
    repairs: list[str],
) -> list[Room]:
    rooms: dict[str, Room] = {}
    for answer in answers:
        if isinstance(answer, str):  # a bare name instead of an object
            answer = _RoomAnswer(key=answer)
        slug = _slug(answer.key) or _slug(answer.label)
        if not slug:
            repairs.append("a room without key or label dropped")
            continue
        kind = answer.type if answer.type in ROOM_TYPES else "concept"
        if kind != answer.type:
            repairs.append(f"room type {answer.type!r} read as concept")
        key = f"{kind}:{slug}"
        if kind == "file":  # a file room must name a file the exchange touched
            path = _file_named(answer.key or answer.label, files, project)
            if path is None:
                kind, key = "concept", f"concept:{slug}"
                repairs.append(f"file room {answer.key!r} names no file touched: a concept")
            else:
                key = f"file:{path}"
        relevance = min(1.0, max(0.0, float(answer.relevance)))
        if relevance != answer.relevance:
            repairs.append("room relevance clamped to 0..1")
        label = " ".join(answer.label.split())[:60] or slug.replace("_", " ")
        if key not in rooms:
            rooms[key] = Room(kind, key, label, round(relevance, 2))  # type: ignore[arg-type]
    ranked = sorted(rooms.values(), key=lambda r: -r.relevance)
    if len(ranked) > MAX_ROOMS:
        repairs.append(f"{len(ranked) - MAX_ROOMS} extra rooms dropped")
    return ranked[:MAX_ROOMS]


def _slug(text: str) -> str:
    """`Retry Timeout` and `retry-timeout` are the room `retry_timeout`."""
    text = re.sub(r"^(concept|workflow|file):", "", text.strip(), flags=re.I)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40]


def _file_named(name: str, files: Sequence[FileTouch], project: str | None) -> str | None:
    name = re.sub(r"^file:", "", name.strip()).removeprefix("./")
    for touch in files:
        if touch.path == name or touch.path.endswith("/" + name):
            path = touch.path
            if project and path.startswith(project.rstrip("/") + "/"):
                path = path[len(project.rstrip("/")) + 1 :]
            return path
    return None


def _grounded(core: str, source: str) -> bool:
    """A quarter of the core's longer words occur in the exchange (it is asked to use the
    exchange's own words): a model echoing the worked example or the schema ("string: 1-2
    sentences") falls short. Scripts without such words (Chinese, say) are not judged."""
    found = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{3,}", core)}
    if not found:
        return True
    lowered = source.lower()
    return sum(word in lowered for word in found) >= GROUNDED_SHARE * len(found)


def _copied(detail: str, source: str) -> bool:
    """Copied from the exchange, give or take case and spacing."""
    squeeze = re.compile(r"\s+")
    return squeeze.sub(" ", detail).lower() in squeeze.sub(" ", source).lower()


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "answer"
    return f"{where}: {first['msg']} ({exc.error_count()} problem(s))"
