"""Overviews of a store: rooms, a room's exchanges in time order, counts and compression."""

from __future__ import annotations

import sqlite3
import statistics
from dataclasses import dataclass
from datetime import datetime

from memdistill.store.store import from_db_time


@dataclass(slots=True)
class RoomInfo:
    type: str
    key: str
    label: str
    project: str
    exchanges: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(slots=True)
class Stats:
    sources: int
    conversations: int
    exchanges: int
    messages: int
    projects: dict[str, int]
    rooms: int
    verbatim_tokens: int
    distilled_tokens: int
    compression: float  # all verbatim tokens / all distilled tokens
    compression_mean: float  # mean of per-exchange ratios
    compression_median: float
    distillers: dict[str, int]
    embedder: str | None
    statuses: dict[str, int]  # memories by status: active, merged, superseded, pruned, ...


def rooms(db: sqlite3.Connection, tenant: str, project: str | None = None) -> list[RoomInfo]:
    where, params = "r.tenant = ?", [tenant]
    if project is not None:
        where += " AND r.project = ?"
        params.append(project)
    sql = (
        "SELECT r.type, r.key, r.label, r.project, COUNT(e.id), MIN(e.started_at), "
        "MAX(e.started_at) FROM rooms r JOIN memory_rooms mr ON mr.room_id = r.id "
        "JOIN exchanges e ON e.id = mr.exchange_id "
        "JOIN memories m ON m.exchange_id = e.id AND m.status = 'active' "
        f"WHERE {where} GROUP BY r.id ORDER BY COUNT(e.id) DESC, r.key"
    )
    return [
        RoomInfo(row[0], row[1], row[2], row[3], row[4], from_db_time(row[5]), from_db_time(row[6]))
        for row in db.execute(sql, params)
    ]


def room_exchanges(
    db: sqlite3.Connection, tenant: str, key: str, project: str | None = None
) -> list[int]:
    """Exchange ids in the room, oldest first."""
    where, params = "r.tenant = ? AND r.key = ?", [tenant, key]
    if project is not None:
        where += " AND r.project = ?"
        params.append(project)
    sql = (
        "SELECT e.id FROM rooms r JOIN memory_rooms mr ON mr.room_id = r.id "
        "JOIN exchanges e ON e.id = mr.exchange_id "
        "JOIN memories m ON m.exchange_id = e.id AND m.status = 'active' "
        f"WHERE {where} ORDER BY e.started_at IS NULL, e.started_at, e.id"
    )
    return [row[0] for row in db.execute(sql, params)]


def stats(db: sqlite3.Connection, tenant: str, embedder: str | None) -> Stats:
    def count(sql: str) -> int:
        return int(db.execute(sql, [tenant]).fetchone()[0])

    pairs = db.execute(
        "SELECT e.verbatim_tokens, m.distilled_tokens FROM exchanges e "
        "JOIN memories m ON m.exchange_id = e.id WHERE e.tenant = ? AND m.status = 'active'",
        [tenant],
    ).fetchall()
    verbatim = sum(v for v, _ in pairs)
    distilled = sum(d for _, d in pairs)
    ratios = [v / d for v, d in pairs if d > 0]
    return Stats(
        sources=count("SELECT COUNT(*) FROM sources WHERE tenant = ?"),
        conversations=count("SELECT COUNT(*) FROM conversations WHERE tenant = ?"),
        exchanges=len(pairs),
        messages=count("SELECT COUNT(*) FROM messages WHERE tenant = ?"),
        projects=dict(
            db.execute(
                "SELECT project, COUNT(*) FROM exchanges WHERE tenant = ? GROUP BY project "
                "ORDER BY COUNT(*) DESC",
                [tenant],
            ).fetchall()
        ),
        rooms=count("SELECT COUNT(*) FROM rooms WHERE tenant = ?"),
        verbatim_tokens=verbatim,
        distilled_tokens=distilled,
        compression=verbatim / distilled if distilled else 0.0,
        compression_mean=statistics.fmean(ratios) if ratios else 0.0,
        compression_median=statistics.median(ratios) if ratios else 0.0,
        distillers=dict(
            db.execute(
                "SELECT distiller, COUNT(*) FROM memories WHERE tenant = ? GROUP BY distiller",
                [tenant],
            ).fetchall()
        ),
        embedder=embedder,
        statuses=dict(
            db.execute(
                "SELECT status, COUNT(*) FROM memories WHERE tenant = ? GROUP BY status "
                "ORDER BY COUNT(*) DESC",
                [tenant],
            ).fetchall()
        ),
    )
