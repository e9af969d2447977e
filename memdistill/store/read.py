"""Reading the store: hits, drill-down, filters as SQL, rooms, stats, and what to reindex."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from memdistill.exchanges import render_verbatim
from memdistill.models import Distilled, FileTouch, Hit, Message, Room, ToolCall
from memdistill.store.store import from_db_time, to_db_time


@dataclass(slots=True, frozen=True)
class Filters:
    """What a search may return; turned into a WHERE clause, never applied after ranking."""

    project: str | None = None
    conversation: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    file: str | None = None

    def __bool__(self) -> bool:
        return any(
            v is not None
            for v in (self.project, self.conversation, self.since, self.until, self.file)
        )


def allowed_ids(db: sqlite3.Connection, tenant: str, filters: Filters) -> np.ndarray | None:
    """Sorted row ids the filters allow, or None when nothing is filtered."""
    if not filters:
        return None
    where = ["e.tenant = ?", "m.status = 'active'"]
    params: list[object] = [tenant]
    if filters.project is not None:
        where.append("e.project = ?")
        params.append(filters.project)
    if filters.conversation is not None:
        where.append("c.external_id = ?")
        params.append(filters.conversation)
    if filters.since is not None:
        where.append("e.started_at >= ?")
        params.append(to_db_time(filters.since))
    if filters.until is not None:
        where.append("e.started_at < ?")
        params.append(to_db_time(filters.until))
    if filters.file is not None:
        # A file matches by its whole path or by a trailing part of it (`app.py`, `src/app.py`).
        where.append(
            "e.id IN (SELECT exchange_id FROM files_touched WHERE tenant = ? "
            "AND (path = ? OR path LIKE ? ESCAPE '\\' OR path LIKE ? ESCAPE '\\'))"
        )
        tail = _escape_like(filters.file.lstrip("/\\"))
        # After a POSIX or a Windows parent folder; "\\\\" is a backslash escaped for LIKE.
        params += [tenant, filters.file, "%/" + tail, "%\\\\" + tail]
    sql = (
        "SELECT e.id FROM exchanges e JOIN memories m ON m.exchange_id = e.id "
        "JOIN conversations c ON c.id = e.conversation_id WHERE "
        + " AND ".join(where)
        + " ORDER BY e.id"
    )
    rows = db.execute(sql, params).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def hits_for(db: sqlite3.Connection, tenant: str, ids: Sequence[int]) -> dict[int, Hit]:
    """Hits (score 0, no ranks yet) for the tenant's exchanges among `ids`, with rooms,
    files and source message ids; other tenants' ids are simply not found."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    hits: dict[int, Hit] = {}
    for row in db.execute(
        "SELECT e.id, e.project, c.external_id, e.started_at, m.exchange_core, "
        "m.specific_context, m.distiller, m.note FROM exchanges e "
        "JOIN memories m ON m.exchange_id = e.id JOIN conversations c ON c.id = e.conversation_id "
        f"WHERE e.tenant = ? AND e.id IN ({marks})",
        [tenant, *ids],
    ):
        hits[row[0]] = Hit(
            exchange_id=row[0],
            score=0.0,
            ranks={},
            memory=Distilled(row[4], row[5], [], [], row[6], row[7] or ""),
            project=row[1],
            conversation_id=row[2],
            started_at=from_db_time(row[3]),
        )
    ids = list(hits)
    if not ids:
        return hits
    marks = ",".join("?" * len(ids))
    for row in db.execute(
        "SELECT mr.exchange_id, r.type, r.key, r.label, mr.relevance FROM memory_rooms mr "
        f"JOIN rooms r ON r.id = mr.room_id WHERE mr.exchange_id IN ({marks}) "
        "ORDER BY mr.exchange_id, mr.position",
        ids,
    ):
        hits[row[0]].memory.room_assignments.append(Room(row[1], row[2], row[3], row[4]))
    for row in db.execute(
        f"SELECT exchange_id, path, action FROM files_touched WHERE exchange_id IN ({marks}) "
        "ORDER BY exchange_id, position",
        ids,
    ):
        hits[row[0]].memory.files_touched.append(FileTouch(row[1], row[2]))
    for row in db.execute(
        f"SELECT exchange_id, external_id FROM messages WHERE exchange_id IN ({marks}) "
        "ORDER BY exchange_id, seq",
        ids,
    ):
        hits[row[0]].source_message_ids.append(row[1])
    for row in db.execute(
        f"SELECT replaced_by, exchange_id, status FROM memories WHERE replaced_by IN ({marks}) "
        "AND status IN ('superseded', 'merged') ORDER BY exchange_id",
        ids,
    ):
        hit = hits[row[0]]
        (hit.supersedes if row[2] == "superseded" else hit.merged).append(row[1])
    return hits


def messages_of(db: sqlite3.Connection, exchange_ids: Sequence[int]) -> dict[int, list[Message]]:
    """The verbatim messages of each exchange, in order (the drill-down)."""
    out: dict[int, list[Message]] = defaultdict(list)
    if not exchange_ids:
        return out
    marks = ",".join("?" * len(exchange_ids))
    for row in db.execute(
        "SELECT exchange_id, external_id, role, kind, text, tool_name, tool_input, tool_call_id, "
        f"timestamp, source_line FROM messages WHERE exchange_id IN ({marks}) "
        "ORDER BY exchange_id, seq",
        list(exchange_ids),
    ):
        tool = ToolCall(row[5], json.loads(row[6]), row[7]) if row[5] is not None else None
        out[row[0]].append(
            Message(row[1], row[2], row[3], row[4], from_db_time(row[8]), tool, row[9])
        )
    return out


@dataclass(slots=True)
class IndexRow:
    """What the derived indexes need about one exchange."""

    id: int
    active: bool
    verbatim: str
    distilled: str
    verbatim_vector: np.ndarray | None
    distilled_vector: np.ndarray | None
    forgotten: bool = False  # deleted by `memdistill forget`: its postings must be purged


def changed_since(
    db: sqlite3.Connection,
    tenant: str,
    generation: int,
    *,
    with_vectors: bool = True,
    tombstones: bool = True,
    batch: int = 512,
) -> Iterator[list[IndexRow]]:
    """Exchanges changed after `generation`, in batches, for the indexes to catch up; then
    (`tombstones`) the ones forgotten since, as inactive rows the indexes drop."""
    yield from _changed_exchanges(db, tenant, generation, with_vectors, batch)
    if tombstones:
        yield from _forgotten_since(db, tenant, generation, batch)


def _forgotten_since(
    db: sqlite3.Connection, tenant: str, generation: int, batch: int
) -> Iterator[list[IndexRow]]:
    """Exchanges `memdistill forget` deleted after `generation`. A row id can be reused by a
    later exchange: one the tenant has again was just yielded as changed, so it is skipped
    here; one another tenant took is still dropped from this tenant's indexes."""
    last = 0
    while True:
        ids = [
            row[0]
            for row in db.execute(
                "SELECT DISTINCT f.exchange_id FROM forgotten f WHERE f.tenant = ? "
                "AND f.generation > ? AND f.exchange_id > ? AND NOT EXISTS (SELECT 1 FROM "
                "exchanges e WHERE e.id = f.exchange_id AND e.tenant = f.tenant) "
                "ORDER BY f.exchange_id LIMIT ?",
                [tenant, generation, last, batch],
            )
        ]
        if not ids:
            return
        yield [IndexRow(i, False, "", "", None, None, forgotten=True) for i in ids]
        last = ids[-1]


def _changed_exchanges(
    db: sqlite3.Connection, tenant: str, generation: int, with_vectors: bool, batch: int
) -> Iterator[list[IndexRow]]:
    last = 0
    while True:
        rows = db.execute(
            "SELECT e.id, m.status, m.exchange_core, m.specific_context FROM exchanges e "
            "JOIN memories m ON m.exchange_id = e.id "
            "WHERE e.tenant = ? AND e.generation > ? AND e.id > ? ORDER BY e.id LIMIT ?",
            [tenant, generation, last, batch],
        ).fetchall()
        if not rows:
            return
        ids = [r[0] for r in rows]
        texts = messages_of(db, ids)
        vectors: dict[tuple[int, str], np.ndarray] = {}
        if with_vectors:
            marks = ",".join("?" * len(ids))
            for eid, layer, blob in db.execute(
                f"SELECT exchange_id, layer, vector FROM embeddings WHERE exchange_id IN ({marks})",
                ids,
            ):
                vectors[(eid, layer)] = np.frombuffer(blob, dtype=np.float32)
        yield [
            IndexRow(
                id=r[0],
                active=r[1] == "active",
                verbatim=render_verbatim(texts.get(r[0], [])),
                distilled=Distilled(r[2], r[3], [], [], "").text,
                verbatim_vector=vectors.get((r[0], "verbatim")),
                distilled_vector=vectors.get((r[0], "distilled")),
            )
            for r in rows
        ]
        last = ids[-1]


def existing_exchanges(db: sqlite3.Connection, conversation_row: int) -> dict[str, tuple[int, str]]:
    """external id -> (row id, content hash) of a conversation's stored exchanges. One that
    had left its file reports no hash, so it is written again when the file has it again;
    a refined-away one keeps its hash (refinement is undone by restore, not re-ingest)."""
    return {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT e.external_id, e.id, CASE WHEN m.status = 'left_source' THEN '' "
            "ELSE e.content_hash END FROM exchanges e JOIN memories m ON m.exchange_id = e.id "
            "WHERE e.conversation_id = ?",
            [conversation_row],
        )
    }


def forgotten_exchanges(db: sqlite3.Connection, tenant: str, conversation: str) -> set[str]:
    """Source ids of a conversation's exchanges that `memdistill forget` deleted."""
    return _forgotten(db, "forgotten", "exchange_external_id", tenant, conversation)


def forgotten_messages(db: sqlite3.Connection, tenant: str, conversation: str) -> set[str]:
    """Source ids of a conversation's messages that `memdistill forget` deleted."""
    return _forgotten(db, "forgotten_messages", "message_external_id", tenant, conversation)


def _forgotten(
    db: sqlite3.Connection, table: str, column: str, tenant: str, conversation: str
) -> set[str]:
    query = f"SELECT {column} FROM {table} WHERE tenant = ? AND conversation_external_id = ?"
    return {row[0] for row in db.execute(query, [tenant, conversation])}


def conversation_known(db: sqlite3.Connection, tenant: str, conversation: str) -> bool:
    """Whether the store holds, or has forgotten, a conversation of this id."""
    return any(
        db.execute(f"SELECT 1 FROM {table} WHERE tenant = ? AND {column} = ? LIMIT 1",
                   [tenant, conversation]).fetchone()
        for table, column in (("conversations", "external_id"),
                              ("forgotten", "conversation_external_id"),
                              ("forgotten_messages", "conversation_external_id"))
    )  # fmt: skip


def source_hash(db: sqlite3.Connection, tenant: str, path: str) -> str | None:
    row = db.execute(
        "SELECT sha256 FROM sources WHERE tenant = ? AND path = ?", [tenant, path]
    ).fetchone()
    return row[0] if row and row[0] else None
