"""Writing ingested exchanges: one transaction per batch, history for every change."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from memdistill.models import Conversation, Distilled, Exchange, Message
from memdistill.store.history import add_history
from memdistill.store.store import Store, now_db_time, to_db_time


@dataclass(slots=True)
class ExchangeRecord:
    """Everything one exchange becomes in the store."""

    conversation_row: int
    source_row: int  # the file that (last) wrote it
    exchange: Exchange
    content_hash: str
    distilled: Distilled
    verbatim_tokens: int
    distilled_tokens: int
    verbatim_vector: np.ndarray
    distilled_vector: np.ndarray
    existing_id: int | None = None  # set when a grown exchange replaces its older self


def ensure_conversation(
    store: Store, tenant: str, conversation: Conversation, fmt: str, project: str, source_row: int
) -> int:
    with store.transaction() as db:
        row = db.execute(
            "SELECT id FROM conversations WHERE tenant = ? AND external_id = ?",
            [tenant, conversation.source_id],
        ).fetchone()
        if row:
            return int(row[0])
        cursor = db.execute(
            "INSERT INTO conversations (tenant, project, external_id, format, source_id, title) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [tenant, project, conversation.source_id, fmt, source_row, conversation.title],
        )
        return int(cursor.lastrowid or 0)


def ensure_source(store: Store, tenant: str, path: str, fmt: str) -> int:
    """The row a file's conversations point at; its hash is recorded only once it is done."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT id FROM sources WHERE tenant = ? AND path = ?", [tenant, path]
        ).fetchone()
        if row:
            return int(row[0])
        cursor = db.execute(
            "INSERT INTO sources (tenant, path, format, size, sha256, ingested_at) "
            "VALUES (?, ?, ?, 0, '', ?)",
            [tenant, path, fmt, now_db_time()],
        )
        return int(cursor.lastrowid or 0)


def mark_source_done(store: Store, source_row: int, fmt: str, size: int, sha256: str) -> None:
    with store.transaction() as db:
        db.execute(
            "UPDATE sources SET format = ?, size = ?, sha256 = ?, ingested_at = ? WHERE id = ?",
            [fmt, size, sha256, now_db_time(), source_row],
        )


def write_records(store: Store, tenant: str, records: list[ExchangeRecord]) -> list[int]:
    """Insert or replace a batch of exchanges atomically; returns their row ids in order."""
    ids: list[int] = []
    with store.transaction() as db:
        generation = Store.next_generation(db)
        now = now_db_time()
        for record in records:
            ids.append(_write_one(db, tenant, record, generation, now))
    return ids


def _write_one(
    db: sqlite3.Connection, tenant: str, record: ExchangeRecord, generation: int, now: str
) -> int:
    exchange = record.exchange
    project = exchange.project or ""
    values = [
        to_db_time(exchange.started_at),
        to_db_time(exchange.ended_at),
        record.content_hash,
        record.verbatim_tokens,
        generation,
    ]
    if record.existing_id is None:
        cursor = db.execute(
            "INSERT INTO exchanges (tenant, project, conversation_id, external_id, seq, "
            "started_at, ended_at, content_hash, verbatim_tokens, generation, source_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                tenant,
                project,
                record.conversation_row,
                exchange.source_id,
                exchange.seq,
                *values,
                record.source_row,
            ],
        )
        exchange_id = int(cursor.lastrowid or 0)
        action, created_at = "created", now
    else:
        exchange_id = record.existing_id
        db.execute(
            "UPDATE exchanges SET started_at = ?, ended_at = ?, content_hash = ?, "
            "verbatim_tokens = ?, generation = ?, source_id = ? WHERE id = ?",
            [*values, record.source_row, exchange_id],
        )
        row = db.execute(
            "SELECT created_at FROM memories WHERE exchange_id = ?", [exchange_id]
        ).fetchone()
        created_at = row[0] if row else now
        for table in ("messages", "memory_rooms", "files_touched", "embeddings"):
            db.execute(f"DELETE FROM {table} WHERE exchange_id = ?", [exchange_id])
        action = "updated"

    _write_messages(db, tenant, project, record.conversation_row, exchange_id, exchange.messages)
    memory = record.distilled
    db.execute(
        "INSERT INTO memories (exchange_id, tenant, project, exchange_core, specific_context, "
        "distilled_tokens, distiller, note, llm_prompt_tokens, llm_completion_tokens, "
        "llm_cache_key, status, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?) "
        "ON CONFLICT (exchange_id) DO UPDATE SET exchange_core = excluded.exchange_core, "
        "specific_context = excluded.specific_context, "
        "distilled_tokens = excluded.distilled_tokens, distiller = excluded.distiller, "
        "note = excluded.note, llm_prompt_tokens = excluded.llm_prompt_tokens, "
        "llm_completion_tokens = excluded.llm_completion_tokens, "
        "llm_cache_key = excluded.llm_cache_key, "
        # A refined-away memory stays so when its exchange grows; one that had left its
        # file is back.
        "status = CASE memories.status WHEN 'left_source' THEN 'active' ELSE memories.status "
        "END, updated_at = excluded.updated_at",
        [
            exchange_id,
            tenant,
            project,
            memory.exchange_core,
            memory.specific_context,
            record.distilled_tokens,
            memory.distiller,
            memory.note or None,
            *memory.llm_tokens,
            memory.cache_key or None,
            created_at,
            now,
        ],
    )
    _write_rooms_and_files(db, tenant, project, exchange_id, memory)
    db.executemany(
        "INSERT INTO embeddings (exchange_id, tenant, project, layer, vector) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (exchange_id, tenant, project, "verbatim", _blob(record.verbatim_vector)),
            (exchange_id, tenant, project, "distilled", _blob(record.distilled_vector)),
        ],
    )
    db.execute(
        "INSERT OR IGNORE INTO usage (exchange_id, tenant, project) VALUES (?, ?, ?)",
        [exchange_id, tenant, project],
    )
    detail = {"distiller": memory.distiller, "content_hash": record.content_hash}
    if memory.note:
        detail["note"] = memory.note
    add_history(db, tenant, project, exchange_id, now, action, generation, detail)
    return exchange_id


def _write_rooms_and_files(
    db: sqlite3.Connection, tenant: str, project: str, exchange_id: int, memory: Distilled
) -> None:
    for position, room in enumerate(memory.room_assignments):
        db.execute(
            "INSERT INTO rooms (tenant, project, type, key, label) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (tenant, project, key) DO NOTHING",
            [tenant, project, room.type, room.key, room.label],
        )
        room_id = db.execute(
            "SELECT id FROM rooms WHERE tenant = ? AND project = ? AND key = ?",
            [tenant, project, room.key],
        ).fetchone()[0]
        db.execute(
            "INSERT OR REPLACE INTO memory_rooms (exchange_id, tenant, project, room_id, "
            "relevance, position) VALUES (?, ?, ?, ?, ?, ?)",
            [exchange_id, tenant, project, room_id, room.relevance, position],
        )
    db.executemany(
        "INSERT OR REPLACE INTO files_touched (exchange_id, tenant, project, path, action, "
        "position) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (exchange_id, tenant, project, f.path, f.action, i)
            for i, f in enumerate(memory.files_touched)
        ],
    )


def _write_messages(
    db: sqlite3.Connection,
    tenant: str,
    project: str,
    conversation_row: int,
    exchange_id: int | None,
    messages: list[Message],
) -> None:
    db.executemany(
        "INSERT INTO messages (tenant, project, conversation_id, exchange_id, external_id, seq, "
        "role, kind, text, tool_name, tool_input, tool_call_id, timestamp, source_line) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (conversation_id, external_id) DO UPDATE SET "
        "exchange_id = excluded.exchange_id, seq = excluded.seq, role = excluded.role, "
        "kind = excluded.kind, text = excluded.text, "
        "tool_name = excluded.tool_name, tool_input = excluded.tool_input, "
        "tool_call_id = excluded.tool_call_id, timestamp = excluded.timestamp, "
        "source_line = excluded.source_line",
        [
            (
                tenant,
                project,
                conversation_row,
                exchange_id,
                m.source_id,
                seq,
                m.role,
                m.kind,
                m.text,
                m.tool.name if m.tool else None,
                json.dumps(m.tool.input, ensure_ascii=False, default=str) if m.tool else None,
                m.tool.call_id if m.tool else None,
                to_db_time(m.timestamp),
                m.line,
            )
            for seq, m in enumerate(messages)
        ],
    )


def write_loose_messages(
    store: Store, tenant: str, project: str, conversation_row: int, messages: list[Message]
) -> None:
    """Messages of a conversation with nothing to index (only meta lines): kept, not indexed."""
    with store.transaction() as db:
        _write_messages(db, tenant, project, conversation_row, None, messages)


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def retire_missing(store: Store, tenant: str, source_row: int, seen: set[tuple[int, str]]) -> int:
    """Exchanges this file wrote before that its new version no longer holds (an edited
    ChatGPT branch, a re-split conversation) stop being searchable. Softly: the row, its
    memory and its history stay, marked left_source. Memories merged into or superseded
    by one of them are searchable again."""
    from memdistill.refine.undo import restore_dependents  # refine builds on the store

    rows = store.db.execute(
        "SELECT e.id, e.conversation_id, e.external_id, e.project FROM exchanges e "
        "JOIN memories m ON m.exchange_id = e.id "
        "WHERE e.tenant = ? AND e.source_id = ? AND m.status = 'active'",
        [tenant, source_row],
    ).fetchall()
    gone = [(row[0], row[3]) for row in rows if (row[1], row[2]) not in seen]
    if not gone:
        return 0
    with store.transaction() as db:
        generation = Store.next_generation(db)
        now = now_db_time()
        detail = {"reason": "no longer in its source file", "source": source_row}
        for exchange_id, project in gone:
            db.execute(
                "UPDATE memories SET status = 'left_source', updated_at = ? WHERE exchange_id = ?",
                [now, exchange_id],
            )
            db.execute(
                "UPDATE exchanges SET generation = ? WHERE id = ?", [generation, exchange_id]
            )
            add_history(db, tenant, project, exchange_id, now, "left_source", generation, detail)
        reason = "the memory it was merged into / superseded by left its source file"
        restore_dependents(db, tenant, [eid for eid, _ in gone], generation, reason)
    return len(gone)


@dataclass(slots=True)
class Redistilled:
    """A stored exchange's new memory (from `memdistill distill`)."""

    exchange_id: int
    project: str
    distilled: Distilled
    distilled_tokens: int
    distilled_vector: np.ndarray
    before: dict[str, str]  # the old memory, for the history row
    content_hash: str  # of the exchange distilled; if it changed since, the write is skipped


def write_redistilled(store: Store, tenant: str, items: list[Redistilled]) -> None:
    """Replace memories in one transaction; their exchanges get a new generation, so the
    indexes re-read just them."""
    if not items:
        return
    with store.transaction() as db:
        generation = Store.next_generation(db)
        now = now_db_time()
        for item in items:
            memory = item.distilled
            current = db.execute(
                "SELECT content_hash FROM exchanges WHERE id = ?", [item.exchange_id]
            ).fetchone()
            if current is None or current[0] != item.content_hash:
                continue  # an ingest changed it meanwhile; its own memory is newer
            db.execute(
                "UPDATE memories SET exchange_core = ?, specific_context = ?, "
                "distilled_tokens = ?, distiller = ?, note = ?, llm_prompt_tokens = ?, "
                "llm_completion_tokens = ?, llm_cache_key = ?, updated_at = ? "
                "WHERE exchange_id = ? AND tenant = ?",
                [
                    memory.exchange_core,
                    memory.specific_context,
                    item.distilled_tokens,
                    memory.distiller,
                    memory.note or None,
                    *memory.llm_tokens,
                    memory.cache_key or None,
                    now,
                    item.exchange_id,
                    tenant,
                ],
            )
            for table in ("memory_rooms", "files_touched"):
                db.execute(f"DELETE FROM {table} WHERE exchange_id = ?", [item.exchange_id])
            _write_rooms_and_files(db, tenant, item.project, item.exchange_id, memory)
            db.execute(
                "UPDATE embeddings SET vector = ? WHERE exchange_id = ? AND layer = 'distilled'",
                [_blob(item.distilled_vector), item.exchange_id],
            )
            db.execute(
                "UPDATE exchanges SET generation = ? WHERE id = ?", [generation, item.exchange_id]
            )
            after = {"distiller": memory.distiller, "exchange_core": memory.exchange_core}
            if memory.note:
                after["note"] = memory.note
            add_history(
                db, tenant, item.project, item.exchange_id, now, "redistilled", generation,
                {"before": item.before, "after": after},
            )  # fmt: skip


def record_distill_run(
    store: Store, tenant: str, command: str, started_at: str, account: dict[str, Any]
) -> None:
    """The token account of a run that used an LLM distiller."""
    with store.transaction() as db:
        db.execute(
            "INSERT INTO distill_runs (tenant, started_at, finished_at, command, distiller, "
            "base_url, memories, requests, prompt_tokens, completion_tokens, cache_hits, "
            "fallbacks, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                tenant,
                started_at,
                now_db_time(),
                command,
                account["distiller"],
                account["base_url"],
                account["memories"],
                account["requests"],
                account["prompt_tokens"],
                account["completion_tokens"],
                account["cache_hits"],
                account["fallbacks"],
                account["cost_usd"],
            ],
        )
