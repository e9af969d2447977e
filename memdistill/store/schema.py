"""The SQLite schema, as numbered migrations (sqlite-utils runs each one atomically).

SQLite is the truth; every index is derived from these tables. Every row carries its
tenant, and every row that belongs to a project carries the project, so isolation is a
WHERE clause. Append a new migration to change the schema; never edit an applied one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

SET = "memdistill"
# In order; sqlite-utils records each applied one by name in _sqlite_migrations.
MIGRATIONS: list[Callable[[Database], None]] = []


def migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    MIGRATIONS.append(fn)
    return fn


def migrate(conn: sqlite3.Connection) -> None:
    """Apply pending migrations. sqlite-utils (which imports pandas when it is installed,
    a quarter of a second) is loaded only when some are pending, not for every search."""
    if _applied(conn) >= {fn.__name__ for fn in MIGRATIONS}:
        return
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(SET)
    for fn in MIGRATIONS:
        migrations(name=fn.__name__)(fn)
    migrations.apply(Database(conn, execute_plugins=False))


def _applied(conn: sqlite3.Connection) -> set[str]:
    try:
        rows = conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", [SET]
        ).fetchall()
    except sqlite3.OperationalError:  # no migrations table yet: a new store
        return set()
    return {row[0] for row in rows}


@migration
def m001_initial(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE sources (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            path TEXT NOT NULL,
            format TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            ingested_at TEXT NOT NULL,
            UNIQUE (tenant, path)
        );
        CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            external_id TEXT NOT NULL,
            format TEXT NOT NULL,
            source_id INTEGER REFERENCES sources(id),
            title TEXT,
            UNIQUE (tenant, external_id)
        );
        CREATE TABLE exchanges (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            external_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            started_at TEXT,
            ended_at TEXT,
            content_hash TEXT NOT NULL,
            verbatim_tokens INTEGER NOT NULL,
            generation INTEGER NOT NULL,
            source_id INTEGER REFERENCES sources(id),  -- the file that last wrote it
            UNIQUE (conversation_id, external_id)
        );
        CREATE INDEX exchanges_source ON exchanges (source_id);
        CREATE INDEX exchanges_generation ON exchanges (tenant, generation);
        CREATE INDEX exchanges_project_time ON exchanges (tenant, project, started_at);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id),
            exchange_id INTEGER REFERENCES exchanges(id),
            external_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            role TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            tool_name TEXT,
            tool_input TEXT,
            tool_call_id TEXT,
            timestamp TEXT,
            source_line INTEGER,
            UNIQUE (conversation_id, external_id)
        );
        CREATE INDEX messages_exchange ON messages (exchange_id, seq);
        CREATE INDEX messages_external ON messages (tenant, external_id);
        CREATE TABLE memories (
            exchange_id INTEGER PRIMARY KEY REFERENCES exchanges(id),
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            exchange_core TEXT NOT NULL,
            specific_context TEXT NOT NULL,
            distilled_tokens INTEGER NOT NULL,
            distiller TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE rooms (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            type TEXT NOT NULL,
            key TEXT NOT NULL,
            label TEXT NOT NULL,
            UNIQUE (tenant, project, key)
        );
        CREATE TABLE memory_rooms (
            exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            room_id INTEGER NOT NULL REFERENCES rooms(id),
            relevance REAL NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (exchange_id, room_id)
        );
        CREATE INDEX memory_rooms_room ON memory_rooms (room_id);
        CREATE TABLE files_touched (
            exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            path TEXT NOT NULL,
            action TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (exchange_id, path)
        );
        CREATE INDEX files_touched_path ON files_touched (tenant, path);
        CREATE TABLE embeddings (
            exchange_id INTEGER NOT NULL REFERENCES exchanges(id),
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            layer TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (exchange_id, layer)
        );
        CREATE TABLE usage (
            exchange_id INTEGER PRIMARY KEY REFERENCES exchanges(id),
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            freq INTEGER NOT NULL DEFAULT 0,
            utility INTEGER NOT NULL DEFAULT 0,
            last_served TEXT,
            last_useful TEXT
        );
        CREATE TABLE history (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            project TEXT NOT NULL,
            exchange_id INTEGER NOT NULL,
            at TEXT NOT NULL,
            action TEXT NOT NULL,
            generation INTEGER NOT NULL,
            detail TEXT
        );
        CREATE INDEX history_exchange ON history (exchange_id);
        """,
    )


@migration
def m002_llm_distillation(db: Database) -> None:
    _run(
        db,
        """
        -- Why a memory came from its distiller (an LLM fallback's reason, the repairs an
        -- LLM answer needed) and what it cost in LLM tokens.
        ALTER TABLE memories ADD COLUMN note TEXT;
        ALTER TABLE memories ADD COLUMN llm_prompt_tokens INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE memories ADD COLUMN llm_completion_tokens INTEGER NOT NULL DEFAULT 0;
        -- Checked LLM answers by what was asked: the same exchange text, model and prompt
        -- version are never paid for twice. Content-keyed, so it holds nothing a tenant
        -- could read without already having the same exchange.
        CREATE TABLE llm_cache (
            model TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            answer TEXT NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (model, prompt_version, content_hash)
        );
        -- One row per ingest or re-distill run that used an LLM: the token account.
        CREATE TABLE distill_runs (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            command TEXT NOT NULL,
            distiller TEXT NOT NULL,
            base_url TEXT NOT NULL,
            memories INTEGER NOT NULL,
            requests INTEGER NOT NULL,
            prompt_tokens INTEGER NOT NULL,
            completion_tokens INTEGER NOT NULL,
            cache_hits INTEGER NOT NULL,
            fallbacks INTEGER NOT NULL,
            cost_usd REAL
        );
        """,
    )


@migration
def m003_refinement(db: Database) -> None:
    _run(
        db,
        """
        -- Memory statuses: 'active' (indexed), 'pruned', 'merged', 'superseded' (set by
        -- refinement, undone by restore) and 'left_source' (its file no longer holds it:
        -- re-ingesting a file that has it again brings it back). Only 'active' is indexed.
        UPDATE memories SET status = 'left_source' WHERE status = 'superseded';
        UPDATE history SET action = 'left_source' WHERE action = 'superseded';
        -- A merged memory's canonical one, a superseded memory's successor.
        ALTER TABLE memories ADD COLUMN replaced_by INTEGER;
        CREATE INDEX memories_replaced_by ON memories (replaced_by);
        CREATE INDEX memories_status ON memories (tenant, status);
        -- How many verdicts (useful or not) callers gave: pruning judges only memories
        -- someone judged, so a caller who never gives feedback never loses any.
        ALTER TABLE usage ADD COLUMN verdicts INTEGER NOT NULL DEFAULT 0;
        -- The llm_cache entry an LLM memory's answer is kept under, so forget finds it
        -- whatever settings (input cut, redaction rules) made the key.
        ALTER TABLE memories ADD COLUMN llm_cache_key TEXT;
        UPDATE usage SET verdicts = (SELECT COUNT(*) FROM history h
            WHERE h.exchange_id = usage.exchange_id AND h.action = 'feedback');
        -- Exchanges deleted by `memdistill forget`: ids and source keys only, never text.
        -- The indexes drop them (by generation) and ingest never writes them back.
        CREATE TABLE forgotten (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            exchange_id INTEGER NOT NULL,
            conversation_external_id TEXT NOT NULL,
            exchange_external_id TEXT NOT NULL,
            generation INTEGER NOT NULL,
            at TEXT NOT NULL,
            UNIQUE (tenant, conversation_external_id, exchange_external_id)
        );
        CREATE INDEX forgotten_generation ON forgotten (tenant, generation);
        """,
    )


@migration
def m004_api_keys(db: Database) -> None:
    _run(
        db,
        """
        -- Bearer keys of the HTTP service, each acting for one tenant. Only a hash is
        -- kept: the key is shown once, when created.
        CREATE TABLE api_keys (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            name TEXT NOT NULL,
            key_hash TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        """,
    )


@migration
def m005_forgotten_messages(db: Database) -> None:
    _run(
        db,
        """
        -- The messages of forgotten exchanges, by source id (ids, never text). A client
        -- sending its history again may put them anywhere in the conversation, where the
        -- exchange tombstone alone would not know them.
        CREATE TABLE forgotten_messages (
            tenant TEXT NOT NULL,
            conversation_external_id TEXT NOT NULL,
            message_external_id TEXT NOT NULL,
            PRIMARY KEY (tenant, conversation_external_id, message_external_id)
        ) WITHOUT ROWID;
        """,
    )


def _run(db: Database, script: str) -> None:
    # Statement by statement (so no semicolon inside a comment): executescript() would
    # COMMIT first and break atomicity.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)
