"""The HTTP API: FastAPI over `Memory`, every request acting for one tenant.

The tenant comes from the bearer key (`keys.py`), never from the request: there is no
header or parameter that names one, so isolation cannot be forged, and every query below
`Memory` filters by tenant. With auth off (allowed only on a loopback address) every
request acts for the server's one tenant.

Endpoints are plain functions: FastAPI runs them on its thread pool, searches in
parallel (a `Memory` is thread-safe for search), ingests one at a time per tenant.
Posted messages and uploaded logs are kept as files under `<store>/uploads/<tenant>/`
and ingested from there like any log, so nothing given is ever lost and re-posting
extends a conversation incrementally. `docs/openapi.json` is this app's schema.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from memdistill import __version__
from memdistill.api import Memory
from memdistill.config import tenant_folder
from memdistill.errors import (
    ConfigError,
    FormatError,
    MemdistillError,
    NotFoundError,
    QueryError,
    StateError,
)
from memdistill.models import Hit, Message
from memdistill.retrieve.fusion import DEFAULT_FUSION
from memdistill.retrieve.modes import DEFAULT_MODE
from memdistill.service.keys import tenant_of_key
from memdistill.store.store import Store

MAX_JSON_BYTES = 2 * 2**20  # a request body other than an upload
MAX_UPLOAD_BYTES = 64 * 2**20
STATUS_OF_ERROR: dict[type[MemdistillError], int] = {
    NotFoundError: 404,
    StateError: 409,
    QueryError: 400,
    ConfigError: 400,
    FormatError: 422,
}


class Service:
    """The store behind the app: one `Memory` per tenant, opened on first use."""

    def __init__(
        self,
        store_path: Path,
        *,
        open_tenant: str | None = None,
        embedder: str | None = None,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
    ) -> None:
        self.store_path = store_path
        self.open_tenant = open_tenant  # auth off: every request acts for this tenant
        self.embedder = embedder
        self.max_upload_bytes = max_upload_bytes
        self.keys = Store(store_path)  # creates the store if needed; keys are looked up here
        self._memories: dict[str, Memory] = {}
        self._ingest_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def memory(self, tenant: str) -> Memory:
        with self._lock:
            memory = self._memories.get(tenant)
            if memory is None:
                memory = Memory.open(self.store_path, tenant=tenant, embedder=self.embedder)
                self._memories[tenant] = memory
                self._ingest_locks[tenant] = threading.Lock()
            return memory

    def ingest_lock(self, tenant: str) -> threading.Lock:
        self.memory(tenant)
        return self._ingest_locks[tenant]

    def uploads(self, tenant: str, kind: str) -> Path:
        folder = self.store_path / "uploads" / tenant_folder(tenant) / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def close(self) -> None:
        with self._lock:
            for memory in self._memories.values():
                memory.close()
            self._memories.clear()
        self.keys.close()


# -- request and response bodies -------------------------------------------------------


class ErrorOut(BaseModel):
    error: str
    type: str


class RoomOut(BaseModel):
    type: str
    key: str
    label: str
    relevance: float


class FileOut(BaseModel):
    path: str
    action: str


class HitOut(BaseModel):
    exchange_id: int
    score: float
    ranks: dict[str, int]
    exchange_core: str
    specific_context: str
    rooms: list[RoomOut]
    files: list[FileOut]
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
            rooms=[RoomOut(**asdict(r)) for r in hit.rooms],
            files=[FileOut(**asdict(f)) for f in hit.files],
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


class RoomInfoOut(BaseModel):
    type: str
    key: str
    label: str
    project: str
    exchanges: int
    first_at: datetime | None
    last_at: datetime | None


class IngestOut(BaseModel):
    files: int
    files_unchanged: int
    files_failed: int
    conversations: int
    exchanges_added: int
    exchanges_updated: int
    exchanges_skipped: int
    exchanges_left_source: int
    exchanges_forgotten_skipped: int
    problems: list[str]
    source: str = Field(description="where the server keeps what was sent")


class PostedMessage(BaseModel):
    role: Literal["user", "assistant", "tool", "system"]
    content: str = Field(max_length=200_000)
    id: str | None = Field(default=None, max_length=200, description="stable id; default: position")
    timestamp: datetime | None = None


CONVERSATION_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,199}$"
ROW_ID_MAX = 2**63 - 1  # SQLite's INTEGER: a larger id is a 422, not an overflow
Id = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]
ExchangeId = Annotated[int, PathParam(ge=1, le=ROW_ID_MAX, description="an exchange id")]


class PostMessagesIn(BaseModel):
    conversation_id: str = Field(pattern=CONVERSATION_ID)
    project: str | None = Field(default=None, max_length=500)
    messages: list[PostedMessage] = Field(min_length=1, max_length=2000)


class FeedbackIn(BaseModel):
    ids: list[Id] = Field(min_length=1, max_length=1000)
    useful: bool


class RefineIn(BaseModel):
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


class ForgetIn(BaseModel):
    ids: list[Id] = Field(default_factory=list, max_length=10_000)
    conversation: str | None = None
    project: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = Field(default=None, min_length=1)
    confirm: Literal[True] = Field(description="must be true: forgetting deletes for good")


class ForgetOut(BaseModel):
    forgotten: list[int]
    restored: list[int]
    scrubbed: bool


class FeedbackOut(BaseModel):
    recorded: int


class HistoryOut(BaseModel):
    at: str
    action: str
    detail: dict[str, Any]


# -- the app ---------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="an API key from `memdistill keys create`")


def current_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The tenant this request acts for: its key's (or the server's, with auth off)."""
    service: Service = request.app.state.service
    if service.open_tenant is not None:
        return service.open_tenant
    if credentials is None:
        raise HTTPException(
            401,
            "no API key: send `Authorization: Bearer <key>`; create a key with "
            "`memdistill keys create --tenant NAME`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = tenant_of_key(service.keys, credentials.credentials)
    if found is None:
        challenge = {"WWW-Authenticate": "Bearer"}
        raise HTTPException(401, "unknown or revoked API key", headers=challenge)
    return found


Tenant = Annotated[str, Depends(current_tenant)]


def create_app(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield
        service.close()

    app = FastAPI(
        title="memdistill",
        version=__version__,
        description="Personal memory from chat logs with AI agents: ingest, search, drill "
        "down, feedback, refine, forget. Every request acts for the tenant of its API key.",
        lifespan=lifespan,
        responses={status: {"model": ErrorOut} for status in (400, 401, 404, 409, 413)},
    )
    app.state.service = service

    @app.exception_handler(MemdistillError)
    async def memdistill_error(_: Request, exc: MemdistillError) -> JSONResponse:
        status = next((s for t, s in STATUS_OF_ERROR.items() if isinstance(exc, t)), 400)
        return JSONResponse({"error": str(exc), "type": type(exc).__name__}, status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        body = {"error": str(exc.detail), "type": "HTTPError"}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        """Refuse a body larger than allowed before reading it (uploads are also counted
        while they stream, for clients that send no length)."""
        limit = service.max_upload_bytes if request.url.path.endswith("/upload") else MAX_JSON_BYTES
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            error = f"request body over {limit} bytes; send a smaller one"
            return JSONResponse({"error": error, "type": "TooLarge"}, 413)
        return await call_next(request)

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness; needs no key."""
        return {"status": "ok", "version": __version__}

    @app.get("/v1/search", tags=["memory"])
    def search(
        tenant: Tenant,
        q: Annotated[str, Query(min_length=1, max_length=2000, description="the query")],
        k: Annotated[int, Query(ge=1, le=100)] = 10,
        mode: str = DEFAULT_MODE,
        fusion: str = DEFAULT_FUSION,
        project: str | None = None,
        conversation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        file: str | None = None,
    ) -> list[HitOut]:
        """Ranked memories, distilled; `GET /v1/exchanges/{id}` drills down."""
        hits = service.memory(tenant).search(
            q, k=k, mode=mode, fusion=fusion, project=project, conversation=conversation,
            since=since, until=until, file=file,
        )  # fmt: skip
        return [HitOut.of(h) for h in hits]

    @app.get("/v1/exchanges/{exchange_id}", tags=["memory"])
    def exchange(tenant: Tenant, exchange_id: ExchangeId) -> ExchangeOut:
        """One exchange: its memory and the verbatim messages (the drill-down)."""
        memory = service.memory(tenant)
        hit = memory.get(exchange_id)
        return ExchangeOut(memory=HitOut.of(hit),
                           messages=[MessageOut.of(m) for m in memory.drill_down(hit)])  # fmt: skip

    @app.get("/v1/rooms", tags=["memory"])
    def rooms(tenant: Tenant, project: str | None = None) -> list[RoomInfoOut]:
        return [RoomInfoOut(**asdict(r)) for r in service.memory(tenant).rooms(project)]

    @app.get("/v1/rooms/{key:path}", tags=["memory"])
    def room(tenant: Tenant, key: str, project: str | None = None) -> list[HitOut]:
        """A room's exchanges, oldest first."""
        return [HitOut.of(h) for h in service.memory(tenant).room(key, project)]

    @app.get("/v1/stats", tags=["memory"])
    def stats(tenant: Tenant) -> dict[str, Any]:
        return asdict(service.memory(tenant).stats())

    @app.post("/v1/feedback", tags=["memory"])
    def feedback(tenant: Tenant, body: FeedbackIn) -> FeedbackOut:
        """Whether memories helped: per task, every id the task was given."""
        return FeedbackOut(recorded=service.memory(tenant).feedback(body.ids, useful=body.useful))

    @app.post("/v1/ingest/messages", tags=["ingest"])
    def post_messages(tenant: Tenant, body: PostMessagesIn) -> IngestOut:
        """Add messages to a conversation (posting more later extends it)."""
        folder = service.uploads(tenant, "posted")
        path = folder / (hashlib.sha256(body.conversation_id.encode()).hexdigest()[:32] + ".jsonl")
        lines = [
            {"conversation_id": body.conversation_id, "role": m.role, "content": m.content,
             **({"project": body.project} if body.project else {}),
             **({"message_id": m.id} if m.id else {}),
             **({"timestamp": m.timestamp.isoformat()} if m.timestamp else {})}
            for m in body.messages
        ]  # fmt: skip
        with service.ingest_lock(tenant):
            with path.open("a", encoding="utf-8") as out:
                out.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
            return _ingest(service.memory(tenant), path, "generic", body.project)

    @app.post("/v1/ingest/upload", tags=["ingest"])
    def upload(
        tenant: Tenant,
        file: Annotated[UploadFile, File(description="a chat log in any format ingest reads")],
        format: Annotated[str | None, Form()] = None,
        project: Annotated[str | None, Form()] = None,
    ) -> IngestOut:
        """Upload a chat log file and ingest it."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(file.filename or "upload").name)[:100]
        folder = service.uploads(tenant, "files")
        partial = folder / f".partial-{threading.get_ident()}-{name}"
        digest, size = hashlib.sha256(), 0
        with partial.open("wb") as out:
            for chunk in iter(lambda: file.file.read(2**20), b""):
                size += len(chunk)
                if size > service.max_upload_bytes:
                    out.close()
                    partial.unlink()
                    raise HTTPException(413, f"upload over {service.max_upload_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        path = folder / f"{digest.hexdigest()[:16]}-{name.lstrip('.') or 'upload'}"
        partial.replace(path)
        with service.ingest_lock(tenant):
            return _ingest(service.memory(tenant), path, format, project)

    @app.post("/v1/refine", tags=["refine"])
    def refine(tenant: Tenant, body: RefineIn) -> RefineOut:
        """Prune, merge near-duplicates, retire superseded decisions (soft, audited)."""
        from memdistill.refine import RefineSettings

        given = body.model_dump(exclude={"dry_run", "project"}, exclude_none=True)
        if "rules" in given:
            given["rules"] = tuple(given["rules"])
        report = service.memory(tenant).refine(RefineSettings(**given), dry_run=body.dry_run,
                                               project=body.project)  # fmt: skip
        return RefineOut(
            dry_run=report.dry_run,
            active_before=report.active_before,
            counts=report.counts(),
            changes=[ChangeOut(rule=c.rule, exchange_id=c.exchange_id, target=c.target,
                               reason=c.reason) for c in report.changes],
            skipped=[ChangeOut(rule=c.rule, exchange_id=c.exchange_id, target=c.target,
                               reason=c.reason) for c in report.skipped],
        )  # fmt: skip

    @app.get("/v1/history/{exchange_id}", tags=["refine"])
    def history(tenant: Tenant, exchange_id: ExchangeId) -> list[HistoryOut]:
        entries = service.memory(tenant).history(exchange_id)
        return [HistoryOut(at=e.at, action=e.action, detail=e.detail) for e in entries]

    @app.post("/v1/restore/{exchange_id}", tags=["refine"])
    def restore(tenant: Tenant, exchange_id: ExchangeId) -> dict[str, Any]:
        """Undo a prune, merge or supersede."""
        return service.memory(tenant).restore(exchange_id)

    @app.post("/v1/forget", tags=["forget"])
    def forget(tenant: Tenant, body: ForgetIn) -> ForgetOut:
        """Delete exchanges for real (selectors combine with AND; `confirm` must be true)."""
        with service.ingest_lock(tenant):
            report = service.memory(tenant).forget(
                body.ids, conversation=body.conversation, project=body.project,
                since=body.since, until=body.until, text=body.text,
            )  # fmt: skip
        return ForgetOut(forgotten=report.forgotten, restored=report.restored,
                         scrubbed=report.scrubbed)  # fmt: skip

    return app


def _ingest(memory: Memory, path: Path, fmt: str | None, project: str | None) -> IngestOut:
    report = memory.ingest([path], format=fmt, project=project)
    return IngestOut(
        **{k: getattr(report, k) for k in IngestOut.model_fields if hasattr(report, k)
           and k != "problems"},
        problems=[str(p) for p in report.problems],
        source=path.name,
    )  # fmt: skip


def openapi_schema() -> dict[str, Any]:
    """The app's OpenAPI schema, as kept in docs/openapi.json (no store needed)."""

    class SchemaOnly(Service):
        def __init__(self) -> None:  # the routes, without a store behind them
            self.open_tenant = None

        def close(self) -> None:
            pass

    return create_app(SchemaOnly()).openapi()
