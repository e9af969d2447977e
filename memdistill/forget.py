"""Real deletion (`memdistill forget`): exchanges chosen by id, conversation, project, time
or text are deleted with everything made from them, in one transaction.

Deleted: their messages, exchange rows, memories, room links, files touched, vectors, usage
and history (history holds before/after texts), the cached LLM answers about them, a
conversation left with no exchange (and its loose messages), rooms left with no memory,
and their lines in the service's kept copies of what was sent (`store/kept.py`).
Kept: one tombstone per exchange in `forgotten` (ids and source keys, never text), from
which the indexes drop them (`read.changed_since`) and by which ingest never writes them
back, the source ids of their messages in `forgotten_messages` (so they stay out wherever
a client sending its history again puts them), and one history row naming the kinds of
selector used (never their values). Memories merged into or superseded by a forgotten one
become active again. Afterwards the file is vacuumed and the WAL truncated, so no free page
still holds the text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from memdistill.distill.llm import asked_text
from memdistill.distill.llm_settings import LLMSettings, load_settings
from memdistill.errors import ConfigError, NotFoundError, QueryError
from memdistill.kept_scrub import scrub_kept
from memdistill.refine.undo import restore_dependents
from memdistill.store.history import add_history
from memdistill.store.kept import KeptScrub
from memdistill.store.read import messages_of
from memdistill.store.store import SCRUB_PENDING, Store, from_db_time, now_db_time, to_db_time

# An id list as one parameter: no limit on how many, one statement text for any count.
IN_IDS = "IN (SELECT value FROM json_each(?))"
NO_EXCHANGE = "NOT EXISTS (SELECT 1 FROM exchanges e WHERE e.conversation_id = c.id)"
# Rows of an exchange, deleted before the exchange row (foreign keys); history holds texts.
PER_EXCHANGE = ("messages", "memory_rooms", "files_touched", "embeddings", "usage", "history",
                "memories")  # fmt: skip
RESTORED_REASON = "the memory it was merged into / superseded by was forgotten"
FORGOTTEN_REASON = "(it named a memory since forgotten)"


@dataclass(frozen=True, slots=True)
class Selector:
    """Which exchanges to forget: every part given must match (they combine with AND)."""

    ids: tuple[int, ...] = ()
    conversation: str | None = None  # its external id, as search prints it
    project: str | None = None
    since: datetime | None = None  # on exchanges.started_at, like the search filters
    until: datetime | None = None
    text: str | None = None  # in the verbatim messages or the memory, any case

    def kinds(self) -> list[str]:
        """The kinds of selector used; the history row names these, never their values."""
        used = {
            "ids": bool(self.ids),
            "conversation": self.conversation is not None,
            "project": self.project is not None,
            "since": self.since is not None,
            "until": self.until is not None,
            "text": self.text is not None,
        }
        return [kind for kind, given in used.items() if given]


@dataclass(frozen=True, slots=True)
class Target:
    """One exchange a forget would delete, as the confirmation shows it."""

    exchange_id: int
    project: str
    conversation: str
    started_at: datetime | None
    exchange_core: str


@dataclass(frozen=True, slots=True)
class Loose:
    """A conversation with no exchange (only meta lines: a system prompt, a summary) whose
    messages a forget would delete; ids never select one, the other selectors do."""

    conversation_row: int
    conversation: str
    project: str
    messages: int


@dataclass(slots=True)
class ForgetPlan:
    selector: Selector
    exchanges: list[Target]
    restores: int  # memories merged into or superseded by these: active again afterwards
    loose: list[Loose] = field(default_factory=list)


@dataclass
class ForgetReport:
    confirmed: bool = True  # False: the confirmation said no and nothing was deleted
    forgotten: list[int] = field(default_factory=list)
    restored: list[int] = field(default_factory=list)
    conversations_deleted: int = 0
    loose_messages_deleted: int = 0  # of conversations with no exchange
    rooms_deleted: int = 0
    llm_cache_deleted: int = 0
    generation: int = 0
    indexed: int = 0  # exchanges in the indexes afterwards
    scrubbed: bool = False  # file vacuumed, WAL truncated (another process can prevent it)
    kept: KeptScrub = field(default_factory=KeptScrub)  # the service's copies of what was sent


def plan_forget(db: sqlite3.Connection, tenant: str, selector: Selector) -> ForgetPlan:
    """What `selector` names among the tenant's exchanges; raises rather than name nothing."""
    kinds = selector.kinds()
    if not kinds:
        raise QueryError(
            "forget needs a selector: exchange ids, --conversation, --project, --since/--until "
            "or --text (they combine with AND); to forget everything, say so explicitly, "
            "e.g. --since 1970-01-01 (and --project P for exchanges with no time)"
        )
    if selector.text is not None and not selector.text.strip():
        raise QueryError("--text needs some text to look for")
    if selector.ids:
        _check_ids(db, tenant, selector.ids)
    if selector.text is not None:  # SQLite's lower() folds ASCII only; Python folds any case
        db.create_function("memdistill_contains", 2, _contains, deterministic=True)
    where, params = _where(tenant, selector)
    rows = db.execute(
        "SELECT e.id, e.project, c.external_id, e.started_at, COALESCE(m.exchange_core, '') "
        "FROM exchanges e JOIN conversations c ON c.id = e.conversation_id "
        f"LEFT JOIN memories m ON m.exchange_id = e.id WHERE {where} ORDER BY e.id",
        params,
    ).fetchall()
    loose = [] if selector.ids else _loose(db, tenant, selector)
    if not rows and not loose:
        flags = ", ".join("ids" if k == "ids" else f"--{k}" for k in kinds)
        raise NotFoundError(
            f"no exchange in this store matches {flags} (together); nothing was forgotten. "
            "`memdistill search` shows what is stored and its ids"
        )
    targets = [Target(r[0], r[1], r[2], from_db_time(r[3]), r[4]) for r in rows]
    ids = json.dumps([t.exchange_id for t in targets])
    restores = db.execute(
        f"SELECT COUNT(*) FROM memories WHERE tenant = ? AND replaced_by {IN_IDS} "
        f"AND exchange_id NOT {IN_IDS}",
        [tenant, ids, ids],
    ).fetchone()[0]
    return ForgetPlan(selector, targets, int(restores), loose)


def _check_ids(db: sqlite3.Connection, tenant: str, ids: Iterable[int]) -> None:
    """Every id must be one of the tenant's exchanges (another tenant's is unknown here)."""
    wanted = sorted(set(ids))
    found = {
        row[0]
        for row in db.execute(
            f"SELECT id FROM exchanges WHERE tenant = ? AND id {IN_IDS}",
            [tenant, json.dumps(wanted)],
        )
    }
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFoundError(
            f"no exchange {', '.join(map(str, missing))} in this store; nothing was forgotten. "
            "Use the ids that search printed"
        )


def _where(tenant: str, selector: Selector) -> tuple[str, list[Any]]:
    where = ["e.tenant = ?"]
    params: list[Any] = [tenant]
    if selector.ids:
        where.append(f"e.id {IN_IDS}")
        params.append(json.dumps(sorted(set(selector.ids))))
    _named(selector, where, params, project="e.project", started="e.started_at")
    if selector.text is not None:
        where.append(
            "(memdistill_contains(m.exchange_core, ?) OR memdistill_contains(m.specific_context, ?)"
            " OR e.id IN (SELECT exchange_id FROM messages WHERE tenant = ? AND "
            "(memdistill_contains(text, ?) OR memdistill_contains(tool_input, ?))))"
        )
        needle = selector.text.casefold()
        params += [needle, needle, tenant, needle, needle]
    return " AND ".join(where), params


def _named(
    selector: Selector, where: list[str], params: list[Any], *, project: str, started: str
) -> None:
    """The conversation, project and time conditions (`c` is the conversation), on the
    columns given for the project and the start time."""
    for value, condition in (
        (selector.conversation, "c.external_id = ?"),
        (selector.project, f"{project} = ?"),
        (selector.since and to_db_time(selector.since), f"{started} >= ?"),
        (selector.until and to_db_time(selector.until), f"{started} < ?"),
    ):
        if value is not None:
            where.append(condition)
            params.append(value)


def _loose(db: sqlite3.Connection, tenant: str, selector: Selector) -> list[Loose]:
    """Conversations with no exchange that the selector names: by their id, project, first
    message's time, or text in a message or the title."""
    where = ["c.tenant = ?", NO_EXCHANGE]
    params: list[Any] = [tenant]
    first = "(SELECT MIN(timestamp) FROM messages m WHERE m.conversation_id = c.id)"
    _named(selector, where, params, project="c.project", started=first)
    if selector.text is not None:
        where.append(
            "(memdistill_contains(c.title, ?) OR EXISTS (SELECT 1 FROM messages m WHERE "
            "m.conversation_id = c.id AND (memdistill_contains(m.text, ?) OR "
            "memdistill_contains(m.tool_input, ?))))"
        )
        params += [selector.text.casefold()] * 3
    rows = db.execute(
        "SELECT c.id, c.external_id, c.project, (SELECT COUNT(*) FROM messages m "
        f"WHERE m.conversation_id = c.id) FROM conversations c WHERE {' AND '.join(where)} "
        "ORDER BY c.id",
        params,
    ).fetchall()
    return [Loose(*row) for row in rows]


def _contains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and needle in haystack.casefold()


def cache_limits(store_folder: Path, options: Mapping[str, Any]) -> set[int]:
    """The `max_input_chars` an LLM run may have cut exchanges to before keying its cache:
    the default, the store's config/environment, and this Memory's distiller options."""
    limits = {LLMSettings().max_input_chars}
    with suppress(ConfigError):  # a broken config.toml must not stop a deletion
        limits.add(load_settings(store_folder).max_input_chars)
    if isinstance(options.get("max_input_chars"), int):
        limits.add(options["max_input_chars"])
    return limits


def forget(store: Store, tenant: str, plan: ForgetPlan, limits: Iterable[int]) -> ForgetReport:
    """Delete what `plan` names (those of its exchanges still there), then scrub the file."""
    db = store.db
    before = db.execute("PRAGMA secure_delete").fetchone()[0]
    db.execute("PRAGMA secure_delete=ON")  # deleted rows' bytes are zeroed, not just unlinked
    try:
        with store.transaction() as tx:
            report = _delete(tx, tenant, plan, sorted(set(limits)), store.folder)
    finally:
        db.execute(f"PRAGMA secure_delete={int(before)}")
    report.scrubbed = store.scrub()
    return report


def _delete(
    db: sqlite3.Connection, tenant: str, plan: ForgetPlan, limits: list[int], folder: Path
) -> ForgetReport:
    rows = db.execute(
        "SELECT e.id, e.project, e.conversation_id, c.external_id, e.external_id "
        "FROM exchanges e JOIN conversations c ON c.id = e.conversation_id "
        f"WHERE e.tenant = ? AND e.id {IN_IDS} ORDER BY e.id",
        [tenant, json.dumps([t.exchange_id for t in plan.exchanges])],
    ).fetchall()  # re-read in the transaction: another process may have deleted some
    report = ForgetReport(forgotten=[r[0] for r in rows])
    loose = [
        row[0]
        for row in db.execute(
            f"SELECT id FROM conversations c WHERE tenant = ? AND id {IN_IDS} AND {NO_EXCHANGE}",
            [tenant, json.dumps([target.conversation_row for target in plan.loose])],
        )
    ]  # re-read too: an ingest may have given one an exchange since
    if not rows and not loose:
        return report
    ids = json.dumps(report.forgotten)
    keys = _cache_keys(db, rows, limits)  # from the messages, so before they go
    report.generation = generation = Store.next_generation(db)
    Store.set_meta(db, SCRUB_PENDING, now_db_time())  # a stop before the scrub is finished later
    now = now_db_time()
    report.restored = restore_dependents(db, tenant, report.forgotten, generation, RESTORED_REASON)
    # A refinement reason can quote the memory it names ("says 'drop requests'"): the rows
    # of other memories that name a forgotten one lose their reason.
    db.execute(
        "UPDATE history SET detail = json_set(detail, '$.reason', ?) WHERE tenant = ? "
        f"AND json_extract(detail, '$.after.replaced_by') {IN_IDS}",
        [FORGOTTEN_REASON, tenant, ids],
    )
    _tombstone_messages(db, tenant, "exchange_id", ids)  # before the messages go
    linked = f"SELECT room_id FROM memory_rooms WHERE exchange_id {IN_IDS}"
    rooms = [row[0] for row in db.execute(linked, [ids])]
    for table in PER_EXCHANGE:
        db.execute(f"DELETE FROM {table} WHERE tenant = ? AND exchange_id {IN_IDS}", [tenant, ids])
    db.execute(f"DELETE FROM exchanges WHERE tenant = ? AND id {IN_IDS}", [tenant, ids])
    loose_rows = json.dumps(loose)
    _tombstone_messages(db, tenant, "conversation_id", loose_rows)
    report.loose_messages_deleted = db.execute(
        f"SELECT COUNT(*) FROM messages WHERE tenant = ? AND conversation_id {IN_IDS}",
        [tenant, loose_rows],
    ).fetchone()[0]
    report.conversations_deleted = _drop_empty_conversations(
        db, tenant, {r[2] for r in rows} | set(loose), plan.selector.text
    )
    report.rooms_deleted = db.execute(
        f"DELETE FROM rooms WHERE tenant = ? AND id {IN_IDS} AND NOT EXISTS "
        "(SELECT 1 FROM memory_rooms mr WHERE mr.room_id = rooms.id)",
        [tenant, json.dumps(rooms)],
    ).rowcount
    # Keyed by content, shared by tenants: another tenant holding the very same exchange
    # only pays to ask again.
    report.llm_cache_deleted = db.execute(
        f"DELETE FROM llm_cache WHERE content_hash {IN_IDS}", [json.dumps(keys)]
    ).rowcount
    db.executemany(
        "INSERT OR REPLACE INTO forgotten (tenant, exchange_id, conversation_external_id, "
        "exchange_external_id, generation, at) VALUES (?, ?, ?, ?, ?, ?)",
        [(tenant, r[0], r[3], r[4], generation, now) for r in rows],
    )
    projects = {r[1] for r in rows} | {t.project for t in plan.loose if t.conversation_row in loose}
    detail = {"selectors": plan.selector.kinds(), "exchanges": len(rows),
              "restored": len(report.restored)}  # fmt: skip
    if loose:
        detail["conversations_without_exchanges"] = len(loose)
    # Exchange 0: the row is about exchanges that no longer exist (their ids may be reused).
    project = projects.pop() if len(projects) == 1 else ""
    add_history(db, tenant, project, 0, now, "forgotten", generation, detail)
    # Last, so a failure above leaves the copies whole; a failure here rolls the deletion back.
    report.kept = scrub_kept(db, folder, tenant)
    return report


def _tombstone_messages(db: sqlite3.Connection, tenant: str, column: str, ids: str) -> None:
    """Message tombstones (source ids, no text), so no ingest writes them back wherever a
    conversation read again puts them (`tombstones.sort_out`)."""
    db.execute(
        "INSERT OR IGNORE INTO forgotten_messages SELECT m.tenant, c.external_id, m.external_id "
        "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        f"WHERE m.tenant = ? AND m.{column} {IN_IDS}",
        [tenant, ids],
    )


def _cache_keys(db: sqlite3.Connection, rows: list[Any], limits: list[int]) -> list[str]:
    """The llm_cache keys of these exchanges: the one each LLM memory recorded, and the
    ones their current text makes at each input cut (an earlier LLM answer, since
    replaced by an offline memory, may be cached under one of those)."""
    ids = [r[0] for r in rows]
    messages = messages_of(db, ids)
    keys = {asked_text(r[1], messages.get(r[0], []), limit)[1] for r in rows for limit in limits}
    keys.update(
        row[0]
        for row in db.execute(
            f"SELECT llm_cache_key FROM memories WHERE exchange_id {IN_IDS} "
            "AND llm_cache_key IS NOT NULL",
            [json.dumps(ids)],
        )
    )
    return sorted(keys)


def _drop_empty_conversations(
    db: sqlite3.Connection, tenant: str, conversations: set[int], text: str | None
) -> int:
    """A conversation with no exchange left goes, with its loose messages; one that stays
    loses a title holding the forgotten text."""
    dropped = 0
    for row in sorted(conversations):
        if db.execute("SELECT 1 FROM exchanges WHERE conversation_id = ?", [row]).fetchone():
            if text is not None:
                title = db.execute("SELECT title FROM conversations WHERE id = ?", [row]).fetchone()
                if title and _contains(title[0], text.casefold()):
                    db.execute("UPDATE conversations SET title = NULL WHERE id = ?", [row])
            continue
        db.execute("DELETE FROM messages WHERE tenant = ? AND conversation_id = ?", [tenant, row])
        dropped += db.execute(
            "DELETE FROM conversations WHERE tenant = ? AND id = ?", [tenant, row]
        ).rowcount
    return dropped
