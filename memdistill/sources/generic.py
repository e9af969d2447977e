"""The format any other tool can export to: OpenAI-style chat messages, JSON or JSONL.

Accepted shapes:
- JSONL, one message per line: {"conversation_id"?, "message_id"?, "role", "content",
  "timestamp"?, "project"?}; lines holding {"messages": [...]} (fine-tuning files) are one
  conversation each;
- JSON: a list of such messages, {"messages": [...], "conversation_id"?, "title"?,
  "project"?}, or a list of such conversation objects.

`content` is a string or a list of parts ({type: text, text}); an assistant message's
`tool_calls` [{id, function: {name, arguments}}] become one tool_call message each after its
text; role "tool" (or "function") -> tool_result; "system"/"developer" -> meta; user ->
prompt. Messages of several conversations may be interleaved: they are grouped by
conversation_id, file order kept within each.

Ids: a missing conversation_id is the file name's stem (f"{stem}:{line}" for a
{"messages"} line of a JSONL file, f"{stem}:{index}" in a JSON list of conversations); a
missing message_id is f"{conversation_id}:{index}", the message's 0-based position in its
conversation, so appended messages never shift earlier ids. Tool calls get
f"{message_id}#tool{n}". `line` is the JSONL line, or the 1-based position in a JSON list.
Timestamps: ISO 8601 or epoch seconds (or milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from memdistill.errors import FormatError
from memdistill.models import Conversation, Kind, Message, Problem, Role
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    dict_or_empty,
    is_json_lines,
    iter_jsonl,
    looks_like_json,
    parse_arguments,
    read_json,
    str_or_none,
    text_from_content,
    timestamp_or_report,
    tool_call_message,
)

_ROLES: dict[str, tuple[Role, Kind]] = {
    "user": ("user", "prompt"),
    "human": ("user", "prompt"),
    "assistant": ("assistant", "text"),
    "ai": ("assistant", "text"),
    "model": ("assistant", "text"),
    "tool": ("tool", "tool_result"),
    "function": ("tool", "tool_result"),
    "system": ("system", "meta"),
    "developer": ("system", "meta"),
}


@dataclass
class _Group:
    """One conversation being collected."""

    id: str
    id_from_file: bool = False  # no conversation_id in the file: made from its name
    project: str | None = None
    title: str | None = None
    records: int = 0  # records seen so far: the index behind generated message ids
    messages: list[Message] = field(default_factory=list)


class GenericParser(Parser):
    name: ClassVar[str] = "generic"
    description: ClassVar[str] = (
        "Generic / OpenAI-style chat messages as JSON or JSONL (role, content, ...)"
    )
    where: ClassVar[str] = "anything that can export a message list"

    def sniff(self, path: Path, head: str) -> bool:
        return looks_like_json(head) and '"role"' in head and '"content"' in head

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        groups: dict[str, _Group] = {}
        line_based = path.suffix.lower() == ".jsonl"
        records = _jsonl(path, problems) if line_based else self._json(path, problems)
        for line, record, default_id in records:
            self._add(groups, record, default_id, line, line_based, path, problems)
        for group in groups.values():
            if group.messages:
                yield Conversation(
                    group.id, group.messages, group.project, group.title, group.id_from_file
                )

    def _json(self, path: Path, problems: ProblemSink) -> Iterator[tuple[int, JSONObject, str]]:
        """(index, message or conversation record, conversation id to use if it has none)."""
        try:
            data = read_json(path)
        except FormatError:
            if not is_json_lines(path):
                raise
            yield from _jsonl(path, problems)  # JSONL saved under another name
            return
        records = [data] if isinstance(data, dict) else data
        if not isinstance(records, list):
            raise FormatError('expected a list of messages or {"messages": [...]}', path=str(path))
        for index, record in enumerate(records, 1):
            if not isinstance(record, dict):
                problems(Problem(str(path), index, "record is not a JSON object; skipped"))
                continue
            several = len(records) > 1 and "messages" in record  # a list of conversations
            yield index, record, f"{path.stem}:{index}" if several else path.stem

    def _add(
        self,
        groups: dict[str, _Group],
        record: JSONObject,
        default_id: str,
        line: int,
        line_based: bool,
        path: Path,
        problems: ProblemSink,
    ) -> None:
        container = "messages" in record
        given_id = _id(record.get("conversation_id")) or (
            _id(record.get("id")) if container else None
        )
        conversation_id = given_id or default_id
        group = groups.setdefault(
            conversation_id, _Group(conversation_id, id_from_file=given_id is None)
        )
        group.project = group.project or str_or_none(record.get("project"))
        if not container:
            self._message(group, record, line, path, problems)
            return
        group.title = group.title or str_or_none(record.get("title"))
        messages = record["messages"]
        if not isinstance(messages, list):
            problems(Problem(str(path), line, "`messages` is not a list; skipped"))
            return
        for index, message in enumerate(messages, 1):
            where = line if line_based else index  # JSON documents: the message's position
            if isinstance(message, dict):
                self._message(group, message, where, path, problems)
            else:
                problems(Problem(str(path), where, "a message is not a JSON object; skipped"))

    def _message(
        self, group: _Group, record: JSONObject, line: int, path: Path, problems: ProblemSink
    ) -> None:
        index = group.records
        group.records += 1
        role_name = record.get("role")
        if not isinstance(role_name, str) or role_name.lower() not in _ROLES:
            problems(
                Problem(str(path), line, f"message has no known `role` ({role_name!r}); skipped")
            )
            return
        role, kind = _ROLES[role_name.lower()]
        group.project = group.project or str_or_none(record.get("project"))
        source_id = _id(record.get("message_id")) or _id(record.get("id")) or f"{group.id}:{index}"
        stamp = record.get("timestamp", record.get("created_at"))
        timestamp = timestamp_or_report(stamp, problems, path, line)
        text = text_from_content(record.get("content"))
        if text.strip():
            group.messages.append(Message(source_id, role, kind, text, timestamp, None, line))
        if role == "assistant":
            group.messages.extend(_tool_calls(record, source_id, timestamp, line, path, problems))


def _tool_calls(
    record: JSONObject,
    message_id: str,
    timestamp: datetime | None,
    line: int,
    path: Path,
    problems: ProblemSink,
) -> Iterator[Message]:
    """An assistant message's `tool_calls` (or older `function_call`), one message each."""
    calls = record.get("tool_calls")
    if isinstance(record.get("function_call"), dict):
        calls = [{"function": record["function_call"]}]
    for number, call in enumerate(calls if isinstance(calls, list) else []):
        function = dict_or_empty(dict_or_empty(call).get("function"))
        name = str_or_none(function.get("name"))
        if name is None:
            problems(Problem(str(path), line, "tool call without a function name; skipped"))
            continue
        arguments = parse_arguments(function.get("arguments"))
        call_id = str_or_none(dict_or_empty(call).get("id"))
        source_id = f"{message_id}#tool{number}"
        yield tool_call_message(source_id, name, arguments, call_id, timestamp=timestamp, line=line)


def _jsonl(path: Path, problems: ProblemSink) -> Iterator[tuple[int, JSONObject, str]]:
    for line, record in iter_jsonl(path, problems):
        yield line, record, f"{path.stem}:{line}" if "messages" in record else path.stem


def _id(value: object) -> str | None:
    """Ids may be strings or numbers in exports; anything else is no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return str_or_none(value)
