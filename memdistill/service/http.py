"""The HTTP API: FastAPI over `Memory`, every request acting for one tenant.

The tenant comes from the bearer key (`keys.py`), never from the request: there is no
header or parameter that names one, so isolation cannot be forged, and every query below
`Memory` filters by tenant. With auth off (allowed only on a loopback address) every
request acts for the server's one tenant, and only requests to localhost are answered.

Endpoints are plain functions: FastAPI runs them on its thread pool, searches in
parallel (a `Memory` is thread-safe for search); what writes (ingest, refine, restore,
forget) runs one at a time per tenant. Posted messages and uploaded logs are kept as files
(`store/kept.py`) and ingested from there like any log, so nothing given is ever lost and
re-posting extends a conversation incrementally. The server holds each tenant's `Memory`
(its indexes in memory) from its first request until it stops. `docs/openapi.json` is
this app's schema; the bodies are in `bodies.py`, the checks before an endpoint in
`guards.py`, the browsing endpoints the web page needs in `browse.py`, the page itself (at
`/`) in `page.py`.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from memdistill import __version__
from memdistill.api import Memory
from memdistill.config import parse_weights
from memdistill.errors import (
    ConfigError,
    FormatError,
    MemdistillError,
    NotFoundError,
    QueryError,
    StateError,
)
from memdistill.ingest import IngestReport
from memdistill.retrieve.fusion import DEFAULT_FUSION
from memdistill.retrieve.modes import DEFAULT_MODE
from memdistill.service.bodies import (
    ErrorOut,
    ExchangeId,
    ExchangeOut,
    FeedbackIn,
    FeedbackOut,
    ForgetIn,
    ForgetOut,
    HistoryOut,
    HitOut,
    IngestOut,
    MessageOut,
    PostMessagesIn,
    RefineIn,
    RefineOut,
)
from memdistill.service.guards import (
    BodyLimit,
    error_response,
    loopback_only,
    unknown_form_fields,
    unknown_query,
    validation_error,
)
from memdistill.service.keys import tenant_of_key
from memdistill.service.page import add_page
from memdistill.store import kept
from memdistill.store.read import forgotten_messages
from memdistill.store.store import Store
from memdistill.store.summary import RoomInfo, Stats

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
        # What a server stopped mid-write left; nothing writes yet (one server per store).
        kept.tidy(store_path)
        self._memories: dict[str, Memory] = {}
        self._write_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def memory(self, tenant: str) -> Memory:
        with self._lock:
            memory = self._memories.get(tenant)
            if memory is None:
                memory = Memory.open(self.store_path, tenant=tenant, embedder=self.embedder)
                self._memories[tenant] = memory
                self._write_locks[tenant] = threading.Lock()
            return memory

    def write_lock(self, tenant: str) -> threading.Lock:
        """Held by whatever changes a tenant's memories (ingest, refine, restore, forget)."""
        self.memory(tenant)
        return self._write_locks[tenant]

    def body_limit(self, path: str) -> int:
        return self.max_upload_bytes if path.endswith("/upload") else MAX_JSON_BYTES

    def close(self) -> None:
        with self._lock:
            for memory in self._memories.values():
                memory.close()
            self._memories.clear()
        self.keys.close()


bearer = HTTPBearer(auto_error=False, description="an API key from `memdistill keys create`")


def current_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The tenant this request acts for: its key's (or the server's, with auth off)."""
    service: Service = request.app.state.service
    if service.open_tenant is not None:
        loopback_only(request)
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
        dependencies=[Depends(unknown_query)],
        responses={status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422)},
    )
    app.state.service = service
    app.add_middleware(BodyLimit, limit=service.body_limit)
    add_page(app)  # the web page at / (its files hold no data: no key needed)
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.exception_handler(MemdistillError)
    async def memdistill_error(_: Request, exc: MemdistillError) -> JSONResponse:
        status = next((s for t, s in STATUS_OF_ERROR.items() if isinstance(exc, t)), 400)
        return error_response(status, str(exc), type(exc).__name__)

    @app.exception_handler(StarletteHTTPException)  # FastAPI's own too (404 of a route)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "HTTPError", headers=exc.headers)

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
        weights: Annotated[
            str | None,
            Query(max_length=200, description="convex fusion: one weight per layer, e.g. 0.7,0.3"),
        ] = None,
        project: str | None = None,
        conversation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        file: str | None = None,
    ) -> list[HitOut]:
        """Ranked memories, distilled; `GET /v1/exchanges/{id}` drills down."""
        hits = service.memory(tenant).search(
            q, k=k, mode=mode, fusion=fusion, weights=parse_weights(weights, "weights"),
            project=project, conversation=conversation, since=since, until=until, file=file,
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
    def rooms(tenant: Tenant, project: str | None = None) -> list[RoomInfo]:
        return service.memory(tenant).rooms(project)

    @app.get("/v1/rooms/{key:path}", tags=["memory"])
    def room(tenant: Tenant, key: str, project: str | None = None) -> list[HitOut]:
        """A room's exchanges, oldest first."""
        return [HitOut.of(h) for h in service.memory(tenant).room(key, project)]

    @app.get("/v1/stats", tags=["memory"])
    def stats(tenant: Tenant) -> Stats:
        return service.memory(tenant).stats()

    @app.post("/v1/feedback", tags=["memory"])
    def feedback(tenant: Tenant, body: FeedbackIn) -> FeedbackOut:
        """Whether memories helped: per task, every id the task was given."""
        return FeedbackOut(recorded=service.memory(tenant).feedback(body.ids, useful=body.useful))

    @app.post("/v1/ingest/messages", tags=["ingest"])
    def post_messages(tenant: Tenant, body: PostMessagesIn) -> IngestOut:
        """Add messages to a conversation (posting more later extends it; a message whose
        id the conversation already holds is skipped, so a retried post adds nothing)."""
        path = kept.posted_path(service.store_path, tenant, body.conversation_id)
        messages = [
            {"role": m.role, "content": m.content, "message_id": m.id,
             "timestamp": m.timestamp.isoformat() if m.timestamp else None}
            for m in body.messages
        ]  # fmt: skip
        memory = service.memory(tenant)
        with service.write_lock(tenant):
            gone = forgotten_messages(memory.store.db, tenant, body.conversation_id)
            with kept.posting(path, body.conversation_id, body.project, messages, gone) as added:
                # Nothing kept (every message forgotten): nothing to read either.
                report = (memory.ingest([path], format="generic", project=body.project)
                          if path.exists() else IngestReport())  # fmt: skip
        forgotten = sum(1 for m in messages if m["message_id"] in gone)
        return IngestOut.of(report, path.name, already_posted=len(messages) - added - forgotten,
                            forgotten_posted=forgotten)  # fmt: skip

    @app.post("/v1/ingest/upload", tags=["ingest"], dependencies=[Depends(unknown_form_fields)])
    def upload(
        tenant: Tenant,
        file: Annotated[UploadFile, File(description="a chat log in any format ingest reads")],
        format: Annotated[str | None, Form()] = None,
        project: Annotated[str | None, Form()] = None,
        name: Annotated[
            str | None,
            Form(max_length=200, description="keep it under this name, not the file's"),
        ] = None,
    ) -> IngestOut:
        """Upload a chat log file and ingest it. It is kept under its name: uploading a
        grown log again under the same name adds only what is new, and exchanges the new
        copy no longer holds leave search (`exchanges_left_source`). Give different logs
        different names."""
        path = kept.upload_path(service.store_path, tenant, name or file.filename)
        partial = path.with_name(f".partial-{threading.get_ident()}-{path.name}")
        # Under the lock, so a forget (which clears leftovers) never meets a copy half-made.
        with service.write_lock(tenant):
            try:
                with partial.open("wb") as out:  # the body was size-checked as it arrived
                    shutil.copyfileobj(file.file, out, 2**20)
                with kept.upload_in_place(partial, path) as undo:
                    report = service.memory(tenant).ingest([path], format=format, project=project)
                    if report.files_failed:  # not a log it can read: keep the copy it had
                        undo()
            finally:
                partial.unlink(missing_ok=True)
        return IngestOut.of(report, path.name)

    @app.post("/v1/refine", tags=["refine"])
    def refine(tenant: Tenant, body: RefineIn) -> RefineOut:
        """Prune, merge near-duplicates, retire superseded decisions (soft, audited)."""
        from memdistill.refine import RefineSettings

        given = body.model_dump(exclude={"dry_run", "project"})
        settings = RefineSettings.load(service.store_path, given, "the request")
        with service.write_lock(tenant):
            report = service.memory(tenant).refine(settings, dry_run=body.dry_run,
                                                   project=body.project)  # fmt: skip
        return RefineOut.of(report)

    @app.get("/v1/history/{exchange_id}", tags=["refine"])
    def history(tenant: Tenant, exchange_id: ExchangeId) -> list[HistoryOut]:
        return [HistoryOut.of(e) for e in service.memory(tenant).history(exchange_id)]

    @app.post("/v1/restore/{exchange_id}", tags=["refine"])
    def restore(tenant: Tenant, exchange_id: ExchangeId) -> dict[str, Any]:
        """Undo a prune, merge or supersede."""
        with service.write_lock(tenant):
            return service.memory(tenant).restore(exchange_id)

    @app.post("/v1/forget", tags=["forget"])
    def forget(tenant: Tenant, body: ForgetIn) -> ForgetOut:
        """Delete exchanges for real, with their lines in what the server kept of posts
        and uploads (selectors combine with AND; `confirm` must be true)."""
        with service.write_lock(tenant):
            report = service.memory(tenant).forget(
                body.ids, conversation=body.conversation, project=body.project,
                since=body.since, until=body.until, text=body.text,
            )  # fmt: skip
        return ForgetOut.of(report)

    from memdistill.service.browse import router  # (it imports this module)

    app.include_router(router)
    return app


def openapi_schema() -> dict[str, Any]:
    """The app's OpenAPI schema, as kept in docs/openapi.json (built over a throwaway store)."""
    with tempfile.TemporaryDirectory() as folder:
        service = Service(Path(folder) / "store")
        try:
            return create_app(service).openapi()
        finally:
            service.close()
