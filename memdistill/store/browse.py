"""Reading a store the way a person browses it: conversations in order, an exchange's place
in its conversation, a project's work by day, the memories refinement took out, and the
distribution of sizes. Every query filters by tenant, like the rest of the store.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

import numpy as np

from memdistill.errors import NotFoundError
from memdistill.store.read import Filters, allowed_ids
from memdistill.store.store import from_db_time

REFINED = ("pruned", "merged", "superseded")  # what `restore` undoes
ROOMS_PER_DAY = 3
# The size histograms stop at this quantile: one 50,000-token paste would squash the rest
# into the first bar. The last bar holds everything above.
TOP_QUANTILE = 0.99


@dataclass(slots=True)
class ConversationInfo:
    conversation_id: str
    project: str
    title: str | None
    exchanges: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(slots=True)
class Place:
    """Where an exchange sits in its conversation, and its memory's state."""

    conversation_id: str
    position: int  # 1-based
    of: int
    previous: int | None
    next: int | None
    status: str  # active, pruned, merged, superseded, left_source
    replaced_by: int | None


@dataclass(slots=True)
class DayRoom:
    key: str
    label: str
    exchanges: int


@dataclass(slots=True)
class Day:
    day: date
    exchanges: int
    conversations: int
    first_at: datetime
    last_at: datetime
    rooms: list[DayRoom] = field(default_factory=list)


@dataclass(slots=True)
class Refined:
    exchange_id: int
    status: str
    replaced_by: int | None
    at: datetime | None
    rule: str | None
    reason: str | None


@dataclass(slots=True)
class Histogram:
    edges: list[float]  # len(counts) + 1; the last bar also holds values above its edge
    counts: list[int]


@dataclass(slots=True)
class Distribution:
    exchanges: int
    verbatim_tokens: Histogram
    distilled_tokens: Histogram
    compression: Histogram  # per exchange: verbatim tokens / distilled tokens


def conversations(
    db: sqlite3.Connection, tenant: str, project: str | None, limit: int, offset: int
) -> list[ConversationInfo]:
    """The tenant's conversations, the most recent first."""
    where, params = "c.tenant = ?", [tenant]
    if project is not None:
        where += " AND c.project = ?"
        params.append(project)
    rows = db.execute(
        "SELECT c.external_id, c.project, c.title, COUNT(e.id), MIN(e.started_at), "
        "MAX(e.started_at) FROM conversations c LEFT JOIN exchanges e ON e.conversation_id = c.id "
        f"WHERE {where} GROUP BY c.id ORDER BY MAX(e.started_at) IS NULL, MAX(e.started_at) DESC, "
        "c.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [
        ConversationInfo(r[0], r[1], r[2], r[3], from_db_time(r[4]), from_db_time(r[5]))
        for r in rows
    ]


def conversation_exchanges(
    db: sqlite3.Connection, tenant: str, conversation: str
) -> tuple[ConversationInfo, list[int]]:
    """A conversation and its exchange ids in conversation order (any memory status)."""
    row = db.execute(
        "SELECT id, project, title FROM conversations WHERE tenant = ? AND external_id = ?",
        [tenant, conversation],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no conversation {conversation!r} in this store")
    rows = db.execute(
        "SELECT id, started_at FROM exchanges WHERE conversation_id = ? AND tenant = ? "
        "ORDER BY seq, id",
        [row[0], tenant],
    ).fetchall()
    times = [t for t in (from_db_time(r[1]) for r in rows) if t is not None]
    info = ConversationInfo(conversation, row[1], row[2], len(rows),
                            min(times, default=None), max(times, default=None))  # fmt: skip
    return info, [r[0] for r in rows]


def place(db: sqlite3.Connection, tenant: str, exchange_id: int) -> Place:
    row = db.execute(
        "SELECT e.conversation_id, e.seq, c.external_id, m.status, m.replaced_by "
        "FROM exchanges e JOIN conversations c ON c.id = e.conversation_id "
        "JOIN memories m ON m.exchange_id = e.id WHERE e.id = ? AND e.tenant = ?",
        [exchange_id, tenant],
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no exchange {exchange_id} in this store")
    conversation, seq = row[0], row[1]
    order = (conversation, seq, seq, exchange_id)

    def one(sql: str) -> int | None:
        found = db.execute(sql, order).fetchone()
        return None if found is None else int(found[0])

    before = "conversation_id = ? AND (seq < ? OR (seq = ? AND id < ?))"
    after = "conversation_id = ? AND (seq > ? OR (seq = ? AND id > ?))"
    position = int(db.execute(f"SELECT COUNT(*) FROM exchanges WHERE {before}", order)
                   .fetchone()[0]) + 1  # fmt: skip
    total = int(db.execute("SELECT COUNT(*) FROM exchanges WHERE conversation_id = ?",
                           [conversation]).fetchone()[0])  # fmt: skip
    return Place(
        conversation_id=row[2],
        position=position,
        of=total,
        previous=one(f"SELECT id FROM exchanges WHERE {before} ORDER BY seq DESC, id DESC LIMIT 1"),
        next=one(f"SELECT id FROM exchanges WHERE {after} ORDER BY seq, id LIMIT 1"),
        status=row[3],
        replaced_by=row[4],
    )


def statuses(db: sqlite3.Connection, tenant: str, ids: list[int]) -> dict[int, str]:
    """The memory status of each of the tenant's exchanges among `ids`."""
    rows = db.execute(
        "SELECT exchange_id, status FROM memories WHERE tenant = ? AND exchange_id IN "
        "(SELECT value FROM json_each(?))",
        [tenant, json.dumps(ids)],
    )
    return {r[0]: r[1] for r in rows}


def exchanges_in_time(
    db: sqlite3.Connection, tenant: str, filters: Filters, limit: int, offset: int
) -> list[int]:
    """Active exchanges the filters allow (the search filters, applied the same way), oldest
    first."""
    ids = allowed_ids(db, tenant, filters)
    where, params = "e.tenant = ? AND m.status = 'active'", [tenant]
    if ids is not None:
        where += " AND e.id IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(ids.tolist()))
    rows = db.execute(
        "SELECT e.id FROM exchanges e JOIN memories m ON m.exchange_id = e.id "
        f"WHERE {where} ORDER BY e.started_at IS NULL, e.started_at, e.id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return [r[0] for r in rows]


def timeline(db: sqlite3.Connection, tenant: str, project: str | None, zone: tzinfo) -> list[Day]:
    """A project's (or every project's) active exchanges by day in `zone`, oldest first,
    with each day's largest rooms. Exchanges with no time are left out."""
    where, params = "e.tenant = ? AND m.status = 'active' AND e.started_at IS NOT NULL", [tenant]
    if project is not None:
        where += " AND e.project = ?"
        params.append(project)
    rows = db.execute(
        "SELECT e.id, e.started_at, e.conversation_id FROM exchanges e "
        f"JOIN memories m ON m.exchange_id = e.id WHERE {where}",
        params,
    ).fetchall()
    rooms_of: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for eid, key, label in db.execute(
        "SELECT mr.exchange_id, r.key, r.label FROM memory_rooms mr JOIN rooms r ON "
        "r.id = mr.room_id JOIN exchanges e ON e.id = mr.exchange_id "
        f"JOIN memories m ON m.exchange_id = e.id WHERE {where}",
        params,
    ):
        rooms_of[eid].append((key, label))
    by_day: dict[date, list[tuple[int, datetime, int]]] = defaultdict(list)
    for eid, started, conversation in rows:
        when = from_db_time(started)
        assert when is not None
        by_day[when.astimezone(zone).date()].append((eid, when, conversation))
    days = []
    for day in sorted(by_day):
        items = by_day[day]
        counted = Counter(room for eid, _, _ in items for room in rooms_of.get(eid, []))
        top = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0][0]))[:ROOMS_PER_DAY]
        days.append(Day(
            day=day,
            exchanges=len(items),
            conversations=len({c for _, _, c in items}),
            first_at=min(t for _, t, _ in items),
            last_at=max(t for _, t, _ in items),
            rooms=[DayRoom(key, label, n) for (key, label), n in top],
        ))  # fmt: skip
    return days


def refined(
    db: sqlite3.Connection,
    tenant: str,
    statuses: tuple[str, ...],
    project: str | None,
    limit: int,
    offset: int,
) -> list[Refined]:
    """Memories refinement took out of the indexes, the most recent first, with the rule and
    reason their history gives."""
    where = f"m.tenant = ? AND m.status IN ({','.join('?' * len(statuses))})"
    params: list[object] = [tenant, *statuses]
    if project is not None:
        where += " AND m.project = ?"
        params.append(project)
    rows = db.execute(
        "SELECT m.exchange_id, m.status, m.replaced_by, (SELECT h.at || char(0) || "
        "COALESCE(h.detail, '') FROM history h WHERE h.tenant = m.tenant AND h.exchange_id = "
        "m.exchange_id AND h.action = m.status ORDER BY h.id DESC LIMIT 1) "
        f"FROM memories m WHERE {where} ORDER BY m.updated_at DESC, m.exchange_id DESC "
        "LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    out = []
    for eid, status, replaced_by, last in rows:
        at, detail = last.split("\0", 1) if last else (None, "")
        said = json.loads(detail) if detail else {}
        out.append(Refined(eid, status, replaced_by, from_db_time(at), said.get("rule"),
                           said.get("reason")))  # fmt: skip
    return out


def distribution(db: sqlite3.Connection, tenant: str, bins: int) -> Distribution:
    """Histograms of the active exchanges' verbatim and distilled tokens and of their
    per-exchange compression."""
    pairs = np.array(
        db.execute(
            "SELECT e.verbatim_tokens, m.distilled_tokens FROM exchanges e JOIN memories m "
            "ON m.exchange_id = e.id WHERE e.tenant = ? AND m.status = 'active'",
            [tenant],
        ).fetchall(),
        dtype=np.float64,
    ).reshape(-1, 2)
    verbatim, distilled = pairs[:, 0], pairs[:, 1]
    ratios = verbatim[distilled > 0] / distilled[distilled > 0]
    return Distribution(
        exchanges=len(pairs),
        verbatim_tokens=_histogram(verbatim, bins),
        distilled_tokens=_histogram(distilled, bins),
        compression=_histogram(ratios, bins),
    )


def _histogram(values: np.ndarray, bins: int) -> Histogram:
    if len(values) == 0:
        return Histogram([], [])
    top = float(np.quantile(values, TOP_QUANTILE))
    low = float(values.min())
    if top <= low:
        top = low + 1
    counts, edges = np.histogram(np.clip(values, low, top), bins=bins, range=(low, top))
    return Histogram([round(float(e), 3) for e in edges], [int(c) for c in counts])
