"""Re-distill what is stored (`memdistill distill`): a new distiller, a new prompt, or the
exchanges an LLM run had to distill offline.

Exchanges are rebuilt from their stored messages, distilled again (an LLM distiller's
cache answers what it has seen), and only memories that came out different are written,
re-embedded and re-indexed, each with a history row of before and after.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from memdistill.distill.base import Distiller
from memdistill.embed.base import Embedder
from memdistill.index.layers import Indexes
from memdistill.ingest import spent_since
from memdistill.models import Distilled, Exchange
from memdistill.store import read
from memdistill.store.read import Filters, allowed_ids
from memdistill.store.store import Store, now_db_time
from memdistill.store.write import Redistilled, record_distill_run, write_redistilled
from memdistill.tokens import count_tokens_many

FALLBACK = "LLM fallback:"
FALLBACK_NOTE = FALLBACK + "%"


@dataclass
class RedistillReport:
    considered: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0  # the distiller fell back to offline: the stored memory was kept
    llm: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)


def select_exchanges(
    store: Store, tenant: str, filters: Filters, *, only_fallbacks: bool = False
) -> list[int]:
    """Active exchanges of the tenant that the filters allow, oldest first."""
    ids = allowed_ids(store.db, tenant, filters)
    sql = "SELECT exchange_id FROM memories WHERE tenant = ? AND status = 'active'"
    params: list[object] = [tenant]
    if only_fallbacks:
        sql += " AND note LIKE ?"
        params.append(FALLBACK_NOTE)
    chosen = [row[0] for row in store.db.execute(sql + " ORDER BY exchange_id", params)]
    if ids is not None:
        allowed = set(ids.tolist())
        chosen = [i for i in chosen if i in allowed]
    return chosen


def redistill(
    store: Store,
    tenant: str,
    distiller: Distiller,
    embedder: Embedder,
    indexes: Indexes,
    exchange_ids: list[int],
    *,
    batch_size: int = 32,
    on_progress: Callable[[int, int], None] | None = None,
) -> RedistillReport:
    report = RedistillReport(considered=len(exchange_ids))
    started, started_at = time.perf_counter(), now_db_time()
    distiller.begin_run()
    spent_before = distiller.account()
    done = 0
    for start in range(0, len(exchange_ids), batch_size):
        batch = exchange_ids[start : start + batch_size]
        exchanges, before, hashes = _load(store, tenant, batch)
        memories = distiller.distill_many([exchanges[i] for i in batch if i in exchanges])
        changed = []
        for i, memory in zip([i for i in batch if i in exchanges], memories, strict=True):
            if memory.note.startswith(FALLBACK) and not before[i]["note"].startswith(FALLBACK):
                report.failed += 1  # never trade a memory for a stand-in
            elif _differs(before[i], memory):
                changed.append((i, memory))
        report.unchanged += len(batch) - len(changed)
        if changed:
            texts = [m.text for _, m in changed]
            vectors = embedder.embed(texts)
            tokens = count_tokens_many(texts)
            write_redistilled(
                store,
                tenant,
                [
                    Redistilled(i, exchanges[i].project or "", m, t, v, before[i], hashes[i])
                    for (i, m), t, v in zip(changed, tokens, vectors, strict=True)
                ],
            )
            report.changed += len(changed)
            indexes.catch_up(store, tenant)
        done += len(batch)
        if on_progress:
            on_progress(done, len(exchange_ids))
    if report.changed:
        indexes.save()
    spent = distiller.account()
    if spent is not None and spent != spent_before:
        report.llm = spent_since(spent_before, spent)
        record_distill_run(store, tenant, "distill", started_at, report.llm)
    report.timings["total"] = time.perf_counter() - started
    return report


def _load(
    store: Store, tenant: str, ids: list[int]
) -> tuple[dict[int, Exchange], dict[int, dict[str, str]], dict[int, str]]:
    """The exchanges rebuilt from their messages, their current memories, and their content
    hashes (an exchange an ingest changes meanwhile is then not overwritten)."""
    marks = ",".join("?" * len(ids))
    hashes = dict(
        store.db.execute(f"SELECT id, content_hash FROM exchanges WHERE id IN ({marks})", ids)
    )
    messages = read.messages_of(store.db, ids)
    hits = read.hits_for(store.db, tenant, ids)
    exchanges: dict[int, Exchange] = {}
    before: dict[int, dict[str, str]] = {}
    for i in ids:
        hit = hits.get(i)
        if hit is None or not messages.get(i):
            continue
        exchanges[i] = Exchange(hit.conversation_id, hit.project, 0, messages[i])
        memory = hit.memory
        before[i] = {
            "distiller": memory.distiller,
            "exchange_core": memory.exchange_core,
            "specific_context": memory.specific_context,
            "rooms": ", ".join(r.key for r in memory.room_assignments),
            "note": memory.note,
        }
    return exchanges, before, hashes


def _differs(before: dict[str, str], memory: Distilled) -> bool:
    return (
        before["distiller"] != memory.distiller
        or before["exchange_core"] != memory.exchange_core
        or before["specific_context"] != memory.specific_context
        or before["rooms"] != ", ".join(r.key for r in memory.room_assignments)
    )
