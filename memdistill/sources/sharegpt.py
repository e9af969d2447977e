"""ShareGPT-style conversations: `{"conversations": [{"from": ..., "value": ...}]}`.

The shape of the ShareGPT dumps and of the fine-tuning sets built like them (FastChat,
LLaMA-Factory, Axolotl): a file of one record, a JSON list of records, or JSONL with one
record per line. A record may carry an `id` and a `system` prompt.

`from`: human/user -> prompt; gpt/assistant/chatgpt/model/bard/bing -> reply text;
system -> meta; function_call -> a tool call (`value` is `{"name", "arguments"}` JSON);
observation/function_response/tool -> its result. Any other speaker is reported and
skipped.

Ids: conversation = the record's `id`, else the file's name (f"{stem}:{n}" for the n-th
record of a list or JSONL file), then scoped by its path; message f"{conversation}:{i}",
the turn's position, so appended turns keep earlier ids. `line` is the JSONL line, or the
record's position in a JSON list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from memdistill.errors import FormatError
from memdistill.models import Conversation, Kind, Message, Problem, Role
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    is_json_lines,
    iter_jsonl,
    looks_like_json,
    parse_arguments,
    read_json,
    str_or_none,
    tool_call_message,
)

_SPEAKERS: dict[str, tuple[Role, Kind]] = {
    **dict.fromkeys(("human", "user"), ("user", "prompt")),
    **dict.fromkeys(
        ("gpt", "assistant", "chatgpt", "model", "bard", "bing"), ("assistant", "text")
    ),
    "system": ("system", "meta"),
    **dict.fromkeys(("observation", "function_response", "tool"), ("tool", "tool_result")),
}
_CONVERSATIONS = re.compile(r'"conversations"\s*:\s*\[')
_TURN = re.compile(r'"from"\s*:\s*"[^"]*"\s*,\s*"value"\s*:|"value"\s*:.*"from"\s*:')


class ShareGPTParser(Parser):
    name: ClassVar[str] = "sharegpt"
    description: ClassVar[str] = (
        'ShareGPT-style conversations: {"conversations": [{"from", "value"}]}, JSON or JSONL'
    )
    where: ClassVar[str] = "ShareGPT dumps and the fine-tuning sets shaped like them"

    def sniff(self, path: Path, head: str) -> bool:
        return looks_like_json(head) and bool(_CONVERSATIONS.search(head) and _TURN.search(head))

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        found = False
        for line, record, default_id in _records(path, problems):
            conversation = _conversation(record, default_id, line, path, problems)
            if conversation is not None:
                found = True
                yield conversation
        if not found:
            raise FormatError('no record with a "conversations" list of turns', path=str(path))


def _records(path: Path, problems: ProblemSink) -> Iterator[tuple[int, JSONObject, str]]:
    """(line or position, record, the id to use when it has none)."""
    try:
        data = read_json(path)
    except FormatError:
        if path.suffix.lower() != ".jsonl" and not is_json_lines(path):
            raise
        data = None
    if data is None:  # JSONL
        for line, record in iter_jsonl(path, problems):
            yield line, record, f"{path.stem}:{line}"
        return
    records = [data] if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise FormatError('expected {"conversations": [...]} or a list of them', path=str(path))
    for index, record in enumerate(records, 1):
        if not isinstance(record, dict):
            problems(Problem(str(path), index, "record is not a JSON object; skipped"))
            continue
        yield index, record, path.stem if len(records) == 1 else f"{path.stem}:{index}"


def _conversation(
    record: JSONObject, default_id: str, line: int, path: Path, problems: ProblemSink
) -> Conversation | None:
    turns = record.get("conversations")
    if not isinstance(turns, list):
        problems(Problem(str(path), line, "record has no `conversations` list; skipped"))
        return None
    given = record.get("id")
    given_id = str(given) if isinstance(given, int | str) and not isinstance(given, bool) else None
    conversation_id = str_or_none(given_id) or default_id
    messages: list[Message] = []
    system = str_or_none(record.get("system"))
    if system and system.strip():
        messages.append(
            Message(f"{conversation_id}:system", "system", "meta", system, None, None, line)
        )
    for index, turn in enumerate(turns):
        source_id = f"{conversation_id}:{index}"
        speaker = turn.get("from") if isinstance(turn, dict) else None
        value = turn.get("value") if isinstance(turn, dict) else None
        if not isinstance(speaker, str) or not isinstance(value, str):
            problems(Problem(str(path), line, f"turn {index} has no `from` and `value`; skipped"))
            continue
        if speaker.lower() == "function_call":
            messages.append(_function_call(source_id, value, line))
            continue
        known = _SPEAKERS.get(speaker.lower())
        if known is None:
            problems(
                Problem(str(path), line, f"turn {index} from unknown speaker {speaker!r}; skipped")
            )
            continue
        if value.strip():
            role, kind = known
            messages.append(Message(source_id, role, kind, value, None, None, line))
    if not messages:
        return None
    title = str_or_none(record.get("title"))
    # a record's id ("identity_0") is unique only within its data set: scope it by the file
    return Conversation(conversation_id, messages, None, title, id_from_file=True)


def _function_call(source_id: str, value: str, line: int) -> Message:
    """`{"name": ..., "arguments": {...}}` as a tool call; anything else keeps its text."""
    call = parse_arguments(value)
    name = str_or_none(call.get("name")) or "function_call"
    arguments = parse_arguments(call.get("arguments")) if "name" in call else call
    return tool_call_message(source_id, name, arguments, None, timestamp=None, line=line)
