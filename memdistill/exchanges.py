"""Split a conversation into exchanges and render an exchange as verbatim text.

An exchange is a prompt plus everything until the next prompt. Only messages of kind
"prompt" open one: tool results, notifications, meta lines and compaction summaries never
do. Messages that come before the first prompt join the first exchange unless they hold
content of their own (an agent that speaks first), so nothing is left behind. An internal
conversation (`Conversation.internal`) has no exchange: ingest keeps its messages loose.
"""

from __future__ import annotations

import hashlib
import json

from memdistill.models import INDEXED_KINDS, Conversation, Exchange, Message

_LABELS = {
    "prompt": "User",
    "text": "Assistant",
    "thinking": "Assistant (thinking)",
    "tool_result": "Tool result",
    "notification": "Notification",
}


def split_exchanges(conversation: Conversation) -> list[Exchange]:
    groups: list[list[Message]] = []
    messages = unique_ids(conversation.messages)
    if conversation.internal:
        return []  # the agent's own machinery: stored, never searched
    for message in messages:
        if message.kind == "prompt" or not groups:
            groups.append([message])
        else:
            groups[-1].append(message)
    # A leading group with no prompt (an agent speaking first, a system line) joins the
    # next group unless it carries indexable content of its own.
    if len(groups) > 1 and groups[0][0].kind != "prompt" and not _has_content(groups[0]):
        groups[1] = groups[0] + groups[1]
        del groups[0]
    if len(groups) == 1 and not _has_content(groups[0]):
        return []
    return [
        Exchange(
            conversation_id=conversation.source_id,
            project=conversation.project,
            seq=seq,
            messages=group,
        )
        for seq, group in enumerate(groups)
    ]


def unique_ids(messages: list[Message]) -> list[Message]:
    """Source ids made unique within a conversation (a repeated id gets `~2`, `~3`, ...)."""
    seen: dict[str, int] = {}
    for message in messages:
        count = seen.get(message.source_id, 0) + 1
        seen[message.source_id] = count
        if count > 1:
            message.source_id = f"{message.source_id}~{count}"
    return messages


def _has_content(messages: list[Message]) -> bool:
    return any(m.kind in INDEXED_KINDS and m.text.strip() for m in messages)


def render_message(message: Message) -> str:
    if message.kind == "tool_call" and message.tool is not None:
        return f"Tool call {message.tool.name}: {message.text}"
    return f"{_LABELS.get(message.kind, message.role)}: {message.text}"


def render_verbatim(messages: list[Message]) -> str:
    """The exchange as indexed and counted: every message but the meta ones."""
    return "\n\n".join(render_message(m) for m in messages if m.kind in INDEXED_KINDS)


def content_hash(messages: list[Message]) -> str:
    """Changes when any message of the exchange changes or one is added (a grown file)."""
    digest = hashlib.sha256()
    for m in messages:
        tool = [m.tool.name, m.tool.input] if m.tool else None
        record = [m.source_id, m.role, m.kind, m.text, tool]
        digest.update(json.dumps(record, sort_keys=True, default=str).encode())
        digest.update(b"\x00")
    return digest.hexdigest()
