"""The HTTP API's browsing endpoints, which the web page (`page.py`) is built on: a
conversation in order, an exchange's place in it, exchanges in time order, a project's
work by day, the memories refinement took out, a forget's preview, the size distribution,
and the search modes.

Same tenancy, errors and checks as the rest of the API (`http.py` includes this router in
its app): every endpoint acts for the tenant of the request's key, and every query filters
by it (`store/browse.py`).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from memdistill.errors import QueryError
from memdistill.forget import Selector, plan_forget
from memdistill.refine.base import RefineSettings
from memdistill.retrieve.fusion import DEFAULT_FUSION, FUSIONS
from memdistill.retrieve.modes import DEFAULT_MODE, MODES
from memdistill.service.bodies import ExchangeId, ForgetSelectorsIn, HitOut, MessageOut
from memdistill.service.http import Service, Tenant
from memdistill.store import browse
from memdistill.store.browse import ConversationInfo, Day, Distribution, Place
from memdistill.store.read import Filters, hits_for, messages_of

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="skip this many first")]


class ConversationExchangeOut(BaseModel):
    memory: HitOut
    status: str = Field(description="active, pruned, merged, superseded or left_source")
    messages: list[MessageOut]


class ConversationOut(BaseModel):
    conversation: ConversationInfo
    offset: int
    exchanges: list[ConversationExchangeOut] = Field(description="in conversation order")


class RefinedOut(BaseModel):
    memory: HitOut
    status: Literal["pruned", "merged", "superseded"]
    replaced_by: int | None = Field(description="the memory it was merged into or superseded by")
    at: datetime | None
    rule: str | None
    reason: str | None


class TargetOut(BaseModel):
    exchange_id: int
    project: str
    conversation_id: str
    started_at: datetime | None
    exchange_core: str


class LooseOut(BaseModel):
    conversation_id: str
    project: str
    messages: int


class ForgetPlanOut(BaseModel):
    exchanges: list[TargetOut] = Field(description="what the same selectors would delete")
    loose: list[LooseOut] = Field(description="conversations with no exchange it would delete")
    restores: int = Field(description="memories merged into or superseded by these, active again")


class RefineSettingsOut(BaseModel):
    min_freq: int
    min_utility_ratio: float
    merge_similarity: float
    supersede_similarity: float
    rules: list[str]


class ModesOut(BaseModel):
    modes: list[str]
    fusions: list[str]
    default_mode: str
    default_fusion: str


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.get("/v1/modes", tags=["memory"])
def modes(tenant: Tenant) -> ModesOut:
    """The named search modes and the fusion methods `GET /v1/search` takes."""
    return ModesOut(modes=list(MODES), fusions=list(FUSIONS), default_mode=DEFAULT_MODE,
                    default_fusion=DEFAULT_FUSION)  # fmt: skip


@router.get("/v1/refine/settings", tags=["refine"])
def refine_settings(request: Request, tenant: Tenant) -> RefineSettingsOut:
    """The thresholds and rules `POST /v1/refine` uses for what the request leaves out:
    the store's `[refine]` table in config.toml, else the defaults."""
    settings = RefineSettings.load(_service(request).store_path)
    return RefineSettingsOut(**asdict(settings))


@router.get("/v1/conversations", tags=["browse"])
def conversations(
    request: Request, tenant: Tenant, project: str | None = None, limit: Limit = 100,
    offset: Offset = 0,
) -> list[ConversationInfo]:  # fmt: skip
    """The conversations, the most recent first, with their number of exchanges."""
    db = _service(request).memory(tenant).store.db
    return browse.conversations(db, tenant, project, limit, offset)


@router.get("/v1/conversations/{conversation_id:path}", tags=["browse"])
def conversation(
    request: Request,
    tenant: Tenant,
    conversation_id: str,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationOut:
    """A conversation's exchanges in order, each with its memory, status and verbatim
    messages; `offset` and `limit` page through a long one."""
    memory = _service(request).memory(tenant)
    db = memory.store.db
    info, ids = browse.conversation_exchanges(db, tenant, conversation_id)
    page = ids[offset : offset + limit]
    hits = hits_for(db, tenant, page)
    statuses = browse.statuses(db, tenant, page)
    texts = messages_of(db, page)
    exchanges = [
        ConversationExchangeOut(memory=HitOut.of(hits[i]), status=statuses[i],
                                messages=[MessageOut.of(m) for m in texts.get(i, [])])
        for i in page
    ]  # fmt: skip
    return ConversationOut(conversation=info, offset=offset, exchanges=exchanges)


@router.get("/v1/exchanges", tags=["browse"])
def exchanges(
    request: Request,
    tenant: Tenant,
    project: str | None = None,
    conversation: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    file: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[HitOut]:
    """Searchable (active) exchanges, oldest first, filtered as a search is."""
    memory = _service(request).memory(tenant)
    filters = Filters(project, conversation, since, until, file)
    ids = browse.exchanges_in_time(memory.store.db, tenant, filters, limit, offset)
    hits = hits_for(memory.store.db, tenant, ids)
    return [HitOut.of(hits[i]) for i in ids]


@router.get("/v1/exchanges/{exchange_id}/place", tags=["browse"])
def place(request: Request, tenant: Tenant, exchange_id: ExchangeId) -> Place:
    """Where an exchange sits in its conversation (previous and next exchange) and the state
    of its memory."""
    return browse.place(_service(request).memory(tenant).store.db, tenant, exchange_id)


@router.get("/v1/timeline", tags=["browse"])
def timeline(
    request: Request,
    tenant: Tenant,
    project: str | None = None,
    tz: Annotated[str, Query(max_length=64, description="IANA time zone of the days")] = "UTC",
) -> list[Day]:
    """Searchable exchanges by day, oldest first, with each day's largest rooms; the day's
    exchanges are `GET /v1/exchanges?since=&until=`."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # (a folder: IsADirectoryError)
        raise QueryError(f"unknown time zone {tz!r}; give an IANA name such as "
                         "Europe/Paris or UTC") from exc  # fmt: skip
    return browse.timeline(_service(request).memory(tenant).store.db, tenant, project, zone)


@router.get("/v1/refined", tags=["refine"])
def refined(
    request: Request,
    tenant: Tenant,
    status: Literal["pruned", "merged", "superseded"] | None = None,
    project: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[RefinedOut]:
    """Memories refinement took out of search, the most recent first, with the rule and
    reason; `POST /v1/restore/{id}` puts one back."""
    memory = _service(request).memory(tenant)
    statuses = (status,) if status else browse.REFINED
    found = browse.refined(memory.store.db, tenant, statuses, project, limit, offset)
    hits = hits_for(memory.store.db, tenant, [r.exchange_id for r in found])
    return [
        RefinedOut(memory=HitOut.of(hits[r.exchange_id]), status=r.status,  # type: ignore[arg-type]
                   replaced_by=r.replaced_by, at=r.at, rule=r.rule, reason=r.reason)
        for r in found
    ]  # fmt: skip


@router.post("/v1/forget/preview", tags=["forget"])
def forget_preview(request: Request, tenant: Tenant, body: ForgetSelectorsIn) -> ForgetPlanOut:
    """What `POST /v1/forget` with the same selectors would delete; deletes nothing."""
    db = _service(request).memory(tenant).store.db
    selector = Selector(tuple(body.ids), body.conversation, body.project, body.since,
                        body.until, body.text)  # fmt: skip
    plan = plan_forget(db, tenant, selector)
    return ForgetPlanOut(
        exchanges=[TargetOut(exchange_id=t.exchange_id, project=t.project,
                             conversation_id=t.conversation, started_at=t.started_at,
                             exchange_core=t.exchange_core) for t in plan.exchanges],
        loose=[LooseOut(conversation_id=x.conversation, project=x.project, messages=x.messages)
               for x in plan.loose],
        restores=plan.restores,
    )  # fmt: skip


@router.get("/v1/stats/distribution", tags=["memory"])
def distribution(
    request: Request, tenant: Tenant, bins: Annotated[int, Query(ge=2, le=100)] = 20
) -> Distribution:
    """Histograms of the searchable exchanges' verbatim and distilled tokens and of their
    compression (the last bar holds everything above the 99th percentile)."""
    return browse.distribution(_service(request).memory(tenant).store.db, tenant, bins)
