"""The HTTP API's request and response bodies (pydantic), which docs/openapi.json describes.

Request bodies refuse fields they do not know (`extra="forbid"`): a misspelt selector
must be an error, not a wider deletion.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memdistill.forget import ForgetReport
from memdistill.ingest import IngestReport
from memdistill.models import FileTouch, Hit, Message, Room
from memdistill.refine.report import RefineReport
from memdistill.store.history import HistoryEntry
from memdistill.store.store import ROW_ID_MAX

Id = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]
ExchangeId = Annotated[int, PathParam(ge=1, le=ROW_ID_MAX, description="an exchange id")]
CONVERSATION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,199}$"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _text_is_unicode(cls, data: Any) -> Any:
        """A lone surrogate ("\\ud800" in JSON) is not text: SQLite cannot store it."""
        where = _surrogate_in(data)
        if where is not None:  # (a key may be what holds it: never echo it)
            where = where.encode("utf-8", "replace").decode("utf-8")
            raise ValueError(f"{where or 'the body'} holds a lone UTF-16 surrogate (half a "
                             "character); send whole characters")  # fmt: skip
        return data


def _surrogate_in(value: Any, where: str = "") -> str | None:
    """Where in `value` a string holds a lone surrogate (a dotted path), or None."""
    if isinstance(value, str):
        return where if any("\ud800" <= c <= "\udfff" for c in value) else None
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return None
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        if isinstance(key, str) and _surrogate_in(key) is not None:
            return path
        found = _surrogate_in(item, path)
        if found is not None:
            return found
    return None


class ErrorOut(BaseModel):
    error: str
    type: str


# -- memories --------------------------------------------------------------------------


class HitOut(BaseModel):
    exchange_id: int
    score: float
    ranks: dict[str, int]
    exchange_core: str
    specific_context: str
    rooms: list[Room]
    files: list[FileTouch]
    project: str | None
    conversation_id: str
    started_at: datetime | None
    source_message_ids: list[str]
    supersedes: list[int] = Field(description="earlier memories this one superseded")
    merged: list[int] = Field(description="near-duplicates merged into this one")
    distiller: str

    @classmethod
    def of(cls, hit: Hit) -> HitOut:
        memory = hit.memory
        return cls(
            exchange_id=hit.exchange_id,
            score=hit.score,
            ranks=hit.ranks,
            exchange_core=memory.exchange_core,
            specific_context=memory.specific_context,
            rooms=hit.rooms,
            files=hit.files,
            project=hit.project,
            conversation_id=hit.conversation_id,
            started_at=hit.started_at,
            source_message_ids=hit.source_message_ids,
            supersedes=hit.supersedes,
            merged=hit.merged,
            distiller=memory.distiller,
        )


class MessageOut(BaseModel):
    id: str
    role: str
    kind: str
    text: str
    timestamp: datetime | None
    tool: str | None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        tool = m.tool.name if m.tool else None
        return cls(id=m.source_id, role=m.role, kind=m.kind, text=m.text,
                   timestamp=m.timestamp, tool=tool)  # fmt: skip


class ExchangeOut(BaseModel):
    memory: HitOut
    messages: list[MessageOut]


class FeedbackIn(Body):
    ids: list[Id] = Field(min_length=1, max_length=1000)
    useful: bool


class FeedbackOut(BaseModel):
    recorded: int


# -- ingest ----------------------------------------------------------------------------


class IngestOut(BaseModel):
    files: int
    files_unchanged: int
    files_failed: int
    files_skipped: int
    conversations: int
    exchanges_added: int
    exchanges_updated: int
    exchanges_skipped: int
    exchanges_left_source: int
    exchanges_forgotten_skipped: int
    problems: list[str]
    source: str = Field(description="where the server keeps what was sent")
    messages_already_posted: int = Field(
        default=0, description="posted messages whose id was already kept (a retry): skipped"
    )
    messages_forgotten_skipped: int = Field(
        default=0, description="posted messages whose id was forgotten (history sent again "
        "after a forget): skipped, never kept again",
    )  # fmt: skip

    @classmethod
    def of(
        cls, report: IngestReport, source: str, already_posted: int = 0, forgotten_posted: int = 0
    ) -> IngestOut:
        counts = {k: v for k, v in asdict(report).items() if isinstance(v, int)}
        return cls(**counts, problems=[str(p) for p in report.problems], source=source,
                   messages_already_posted=already_posted,
                   messages_forgotten_skipped=forgotten_posted)  # fmt: skip


class PostedMessage(Body):
    role: Literal["user", "assistant", "tool", "system"]
    content: str = Field(max_length=200_000)
    id: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="stable id; a message whose id the conversation already holds is "
        "skipped (a retried post). Default: a fresh random id (so a retry without ids "
        "is added again)",
    )  # fmt: skip
    timestamp: datetime | None = None

    @field_validator("timestamp")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("timestamp has no UTC equivalent (too near year 1 or 9999)") from exc


class PostMessagesIn(Body):
    conversation_id: str = Field(pattern=CONVERSATION_ID)
    project: str | None = Field(default=None, max_length=500)
    messages: list[PostedMessage] = Field(min_length=1, max_length=2000)


# -- refine, history, forget -----------------------------------------------------------


class RefineIn(Body):
    dry_run: bool = False
    rules: list[Literal["merge", "supersede", "prune"]] | None = None
    min_freq: int | None = Field(default=None, ge=1)
    min_utility_ratio: float | None = Field(default=None, ge=0, le=1)
    merge_similarity: float | None = Field(default=None, gt=0, le=1)
    supersede_similarity: float | None = Field(default=None, gt=0, le=1)
    project: str | None = None


class ChangeOut(BaseModel):
    rule: str
    exchange_id: int
    target: int | None
    reason: str


class RefineOut(BaseModel):
    dry_run: bool
    active_before: int
    counts: dict[str, int]
    changes: list[ChangeOut]
    skipped: list[ChangeOut]

    @classmethod
    def of(cls, report: RefineReport) -> RefineOut:
        def out(changes: Any) -> list[ChangeOut]:
            return [ChangeOut(rule=c.rule, exchange_id=c.exchange_id, target=c.target,
                              reason=c.reason) for c in changes]  # fmt: skip

        return cls(dry_run=report.dry_run, active_before=report.active_before,
                   counts=report.counts(), changes=out(report.changes),
                   skipped=out(report.skipped))  # fmt: skip


class HistoryOut(BaseModel):
    at: datetime
    action: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: HistoryEntry) -> HistoryOut:
        return cls.model_validate({"at": entry.at, "action": entry.action, "detail": entry.detail})


class ForgetSelectorsIn(Body):
    """Which exchanges a forget takes: every selector given must match (AND)."""

    ids: list[Id] = Field(default_factory=list, max_length=10_000)
    conversation: str | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = Field(default=None, min_length=1)


class ForgetIn(ForgetSelectorsIn):
    confirm: Literal[True] = Field(description="must be true: forgetting deletes for good")


class ForgetOut(BaseModel):
    forgotten: list[int]
    restored: list[int]
    scrubbed: bool
    kept_files_rewritten: list[str] = Field(description="posted files that lost the lines")
    kept_files_deleted: list[str] = Field(description="kept uploads that held them, removed")
    loose_messages_deleted: int = Field(
        default=0, description="messages of conversations with no exchange (a lone system "
        "prompt, say), which the selectors other than ids also reach",
    )  # fmt: skip

    @classmethod
    def of(cls, report: ForgetReport) -> ForgetOut:
        return cls(forgotten=report.forgotten, restored=report.restored,
                   scrubbed=report.scrubbed, kept_files_rewritten=report.kept.rewritten,
                   kept_files_deleted=report.kept.deleted,
                   loose_messages_deleted=report.loose_messages_deleted)  # fmt: skip
