"""The data that flows through memdistill: messages, exchanges, distilled memories, hits.

Plain dataclasses: they are created by the hundred thousand during an ingest, so they stay
cheap, and every layer (parsers, distillers, store, retriever) speaks them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Role = Literal["user", "assistant", "tool", "system"]

# What a message is, beyond who said it. Only a "prompt" starts a new exchange.
#   prompt      a person's request (user role)
#   text        an agent's visible reply text
#   thinking    an agent's reasoning block
#   tool_call   an agent calling a tool (ToolCall attached)
#   tool_result what a tool returned (user or tool role in the source)
#   notification an event the agent's harness injects into the running exchange, such as
#               Claude Code's `<task-notification>` when a background command ends: tool
#               traffic, never a prompt; indexed like a tool result, since it names the
#               command and how it ended
#   meta        kept verbatim but neither a prompt nor indexed: local slash commands and
#               their output, caveats, compaction summaries, system prompts
Kind = Literal["prompt", "text", "thinking", "tool_call", "tool_result", "notification", "meta"]

INDEXED_KINDS: frozenset[str] = frozenset(
    {"prompt", "text", "thinking", "tool_call", "tool_result", "notification"}
)

# The four searchable layers: (verbatim | distilled) text x (BM25 | vector) engine.
Layer = Literal["verbatim-bm25", "verbatim-vector", "distilled-bm25", "distilled-vector"]
LAYERS: tuple[Layer, ...] = (
    "verbatim-bm25",
    "verbatim-vector",
    "distilled-bm25",
    "distilled-vector",
)

FileAction = Literal["read", "edited", "created", "referenced"]
RoomType = Literal["file", "concept", "workflow"]


@dataclass(slots=True)
class ToolCall:
    name: str
    input: dict[str, Any]
    call_id: str | None = None


@dataclass(slots=True)
class Message:
    """One message as the source file holds it (assistant blocks already regrouped)."""

    source_id: str  # the id in the source file, or one generated deterministically
    role: Role
    kind: Kind
    text: str
    timestamp: datetime | None = None
    tool: ToolCall | None = None  # set when kind == "tool_call"
    line: int | None = None  # 1-based line (or index) in the source file, for messages to the user


@dataclass(slots=True)
class Conversation:
    """A session / chat: the unit a source file is split into."""

    source_id: str  # sessionId, ChatGPT conversation id, ... (unique within the format)
    messages: list[Message]
    project: str | None = None
    title: str | None = None
    # The source gave no id, so the parser made one from the file (its name): the ingest
    # then scopes it by the file's path, so two files called chat.jsonl never share one.
    id_from_file: bool = False
    # Why the agent's own machinery, not the person, held this conversation (a Claude Code
    # compaction or warmup agent): its messages are stored, never split nor indexed.
    internal: str | None = None

    def stored_id(self, path_key: str) -> str:
        """The id the store knows it by when read from the file at `path_key` (its resolved
        path, as ingest records it): an id made from the file is scoped by that path."""
        if not self.id_from_file:
            return self.source_id
        return f"{self.source_id}@{hashlib.sha256(path_key.encode()).hexdigest()[:10]}"


@dataclass(slots=True)
class Exchange:
    """A user prompt plus everything up to the next prompt (tool round trips included)."""

    conversation_id: str
    project: str | None
    seq: int  # position in its conversation, 0-based
    messages: list[Message]

    @property
    def source_id(self) -> str:
        """The exchange's stable key: its first message's source id."""
        return self.messages[0].source_id

    @property
    def source_message_ids(self) -> list[str]:
        return [m.source_id for m in self.messages]

    @property
    def started_at(self) -> datetime | None:
        return next((m.timestamp for m in self.messages if m.timestamp), None)

    @property
    def ended_at(self) -> datetime | None:
        return next((m.timestamp for m in reversed(self.messages) if m.timestamp), None)

    @property
    def prompt(self) -> str:
        return "\n".join(m.text for m in self.messages if m.kind == "prompt")

    @property
    def reply(self) -> str:
        """The agent's visible text, without tool traffic or thinking."""
        return "\n".join(m.text for m in self.messages if m.kind == "text")

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [m.tool for m in self.messages if m.tool is not None]


@dataclass(slots=True, frozen=True)
class FileTouch:
    path: str
    action: FileAction


@dataclass(slots=True, frozen=True)
class Room:
    type: RoomType
    key: str  # stable within a project: the same key is the same room
    label: str
    relevance: float  # 0..1


@dataclass(slots=True)
class Distilled:
    """The compound object one exchange is distilled into."""

    exchange_core: str
    specific_context: str
    room_assignments: list[Room]
    files_touched: list[FileTouch]
    distiller: str  # which distiller made it, e.g. "offline-v1"
    note: str = ""  # why: an LLM fallback's reason, the repairs an LLM answer needed
    llm_tokens: tuple[int, int] = (0, 0)  # (prompt, completion) tokens this memory cost
    cache_key: str = ""  # the llm_cache entry its answer is kept under (forget drops it)

    @property
    def text(self) -> str:
        """The searchable distilled text."""
        if not self.specific_context or self.specific_context in self.exchange_core:
            return self.exchange_core
        return f"{self.exchange_core} {self.specific_context}"


@dataclass(slots=True)
class Hit:
    """One search result: an exchange, its distilled memory and how it was found."""

    exchange_id: int
    score: float
    ranks: dict[str, int]  # layer name -> 1-based rank in that layer's list
    memory: Distilled
    project: str | None
    conversation_id: str
    started_at: datetime | None
    source_message_ids: list[str] = field(default_factory=list)
    supersedes: list[int] = field(default_factory=list)  # earlier memories it replaced
    merged: list[int] = field(default_factory=list)  # near-duplicates merged into it

    @property
    def rooms(self) -> list[Room]:
        return self.memory.room_assignments

    @property
    def files(self) -> list[FileTouch]:
        return self.memory.files_touched


@dataclass(slots=True)
class Problem:
    """Something wrong in an input that was skipped; ingest carries on past it."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"
