"""ChatGPT data export: `conversations.json`, a list of conversations (or one of them).

Each conversation is a tree of nodes (`mapping`); edits and regenerations leave abandoned
branches. Only the active branch is read: from `current_node` up through `parent` links,
then reversed.

Ids: conversation `id` (or `conversation_id`); message `id` (or its node's id). `line` is
the message's 1-based position in the active branch (the file is one JSON document); a
Problem's line is the conversation's 1-based index in the file.
Timestamps: `create_time` (epoch seconds), None where it is null.

Kinds: user text -> prompt; assistant text -> text; an assistant message addressed to a
tool (`recipient` other than "all": browser, python, plugins) -> tool_call whose text is
the code it sends; tool messages -> tool_result; reasoning ("thoughts") -> thinking.
Meta: system messages, messages hidden from the conversation, custom instructions and
memory contexts, reasoning recaps. Empty messages (the blank system root) are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from memdistill.errors import FormatError
from memdistill.models import Conversation, Kind, Message, Problem, Role
from memdistill.sources.base import Parser, ProblemSink
from memdistill.sources.common import (
    JSONObject,
    dict_or_empty,
    looks_like_json,
    parse_arguments,
    read_json,
    short_hash,
    str_or_none,
    text_from_content,
    timestamp_or_report,
    tool_call_message,
)

_META_CONTENT = frozenset({"user_editable_context", "model_editable_context", "reasoning_recap"})


class ChatGPTParser(Parser):
    name: ClassVar[str] = "chatgpt"
    description: ClassVar[str] = "ChatGPT data export (conversations.json)"
    where: ClassVar[str] = (
        "conversations.json in the data export zip (Settings > Data controls > Export)"
    )

    def sniff(self, path: Path, head: str) -> bool:
        return (
            looks_like_json(head)
            and '"mapping"' in head
            and ('"current_node"' in head or '"children"' in head)
        )

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        data = read_json(path)
        records = data if isinstance(data, list) else [data]
        found = False
        for index, record in enumerate(records, 1):
            if not isinstance(record, dict) or not isinstance(record.get("mapping"), dict):
                problems(
                    Problem(str(path), index, f"conversation #{index} has no `mapping`; skipped")
                )
                continue
            found = True
            conversation = _conversation(record, index, path, problems)
            if conversation.messages:
                yield conversation
        if records and not found:
            raise FormatError(
                "no ChatGPT conversation (an object with `mapping`) found", path=str(path)
            )


def _conversation(
    record: JSONObject, index: int, path: Path, problems: ProblemSink
) -> Conversation:
    title = str_or_none(record.get("title"))
    conversation_id = str_or_none(record.get("id")) or str_or_none(record.get("conversation_id"))
    if conversation_id is None:
        conversation_id = "chatgpt-" + short_hash(
            path.name, str(record.get("create_time")), title or ""
        )
        problems(
            Problem(str(path), index, f"conversation #{index} has no id; using {conversation_id}")
        )
    messages: list[Message] = []
    for position, node_id in enumerate(_active_branch(record, index, path, problems), 1):
        message = _message(record["mapping"][node_id], node_id, position, index, problems, path)
        if message is not None:
            messages.append(message)
    return Conversation(conversation_id, messages, None, title)


def _active_branch(record: JSONObject, index: int, path: Path, problems: ProblemSink) -> list[str]:
    mapping: JSONObject = record["mapping"]
    node_id = record.get("current_node")
    if not isinstance(node_id, str) or node_id not in mapping:
        # No usable pointer: take the last leaf, the branch most exports end on.
        leaves = [k for k, v in mapping.items() if isinstance(v, dict) and not v.get("children")]
        problems(Problem(str(path), index, "no valid `current_node`; following the last leaf"))
        node_id = leaves[-1] if leaves else None
    branch: list[str] = []
    seen: set[str] = set()  # a malformed tree may loop
    while isinstance(node_id, str) and node_id in mapping and node_id not in seen:
        branch.append(node_id)
        seen.add(node_id)
        node_id = dict_or_empty(mapping[node_id]).get("parent")
    if node_id is not None and not (isinstance(node_id, str) and node_id in mapping):
        problems(Problem(str(path), index, f"node parent {node_id!r} is missing; branch cut there"))
    branch.reverse()
    return branch


def _message(
    node: object, node_id: str, position: int, index: int, problems: ProblemSink, path: Path
) -> Message | None:
    """The node's message; `position` is its place in the branch, `index` the conversation's."""
    message = dict_or_empty(node).get("message")
    if not isinstance(message, dict):
        return None  # the root and other structural nodes carry no message
    content = dict_or_empty(message.get("content"))
    content_type = str_or_none(content.get("content_type")) or ""
    text = _render(content, content_type)
    if not text.strip():
        return None
    role_name = dict_or_empty(message.get("author")).get("role")
    role: Role = role_name if role_name in ("user", "assistant", "tool", "system") else "system"
    source_id = str_or_none(message.get("id")) or node_id
    timestamp = timestamp_or_report(message.get("create_time"), problems, path, index)
    metadata = dict_or_empty(message.get("metadata"))
    recipient = str_or_none(message.get("recipient")) or "all"
    hidden = bool(
        metadata.get("is_visually_hidden_from_conversation")
        or metadata.get("is_user_system_message")
    )
    if role == "assistant" and recipient != "all" and not hidden:
        arguments = {"code": text} if content_type == "code" else parse_arguments(text)
        return tool_call_message(
            source_id, recipient, arguments, None, timestamp=timestamp, line=position, text=text
        )
    kind: Kind
    if hidden or role == "system" or content_type in _META_CONTENT:
        kind = "meta"
    elif role == "user":
        kind = "prompt"
    elif role == "tool":
        kind = "tool_result"
    else:
        kind = "thinking" if content_type == "thoughts" else "text"
    return Message(source_id, role, kind, text, timestamp, None, position)


def _render(content: JSONObject, content_type: str) -> str:
    """The readable text of one message's content, whatever its content_type."""
    if content_type == "tether_quote":
        fields = (content.get("title"), content.get("url"), content.get("text"))
        return "\n".join(f for f in fields if isinstance(f, str) and f)
    if content_type == "tether_browsing_display":
        return _first_text(content, "result", "summary")
    if content_type == "thoughts":
        thoughts = content.get("thoughts")
        items = thoughts if isinstance(thoughts, list) else []
        return "\n\n".join(_first_text(dict_or_empty(t), "content", "summary") for t in items)
    if content_type == "user_editable_context":
        return "\n\n".join(
            s
            for s in (
                _first_text(content, "user_profile"),
                _first_text(content, "user_instructions"),
            )
            if s
        )
    parts = content.get("parts")
    if isinstance(parts, list):
        return "\n".join(p for p in (_part(part) for part in parts) if p)
    return _first_text(content, "text", "result", "content", "model_set_context")


def _part(part: object) -> str:
    """A `parts` entry: text, or a placeholder for an image, audio or file pointer."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = str(part.get("content_type", ""))
    if "image" in kind:
        return "[image]"
    if kind == "audio_transcription":
        return _first_text(part, "text")
    if "audio" in kind or "video" in kind:
        return "[audio]" if "audio" in kind else "[video]"
    return text_from_content(part) or "[file]"


def _first_text(record: JSONObject, *keys: str) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""
