"""Undoing refinement: `memdistill restore ID` puts a pruned, merged or superseded memory
back in the indexes. Forget and re-ingest use the same step for memories whose canonical
or successor they take away."""

from __future__ import annotations

import sqlite3

from memdistill.errors import NotFoundError, StateError
from memdistill.refine.base import RULE_OF_STATUS
from memdistill.store.history import add_history
from memdistill.store.store import Store, now_db_time


def restore(store: Store, tenant: str, exchange_id: int) -> dict[str, object]:
    """Undo the prune, merge or supersede that took a memory out of the indexes; it is
    searchable again once the indexes catch up. Returns the history row's detail."""
    with store.transaction() as db:
        row = db.execute(
            "SELECT status FROM memories WHERE exchange_id = ? AND tenant = ?",
            [exchange_id, tenant],
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no memory {exchange_id} in this store")
        if row[0] not in RULE_OF_STATUS:
            why = (
                "it is active" if row[0] == "active"
                else "it left its source file; ingest a file that holds it again"
            )  # fmt: skip
            raise StateError(
                f"memory {exchange_id} was not pruned, merged or superseded ({why}); "
                f"`memdistill history {exchange_id}` shows what happened to it"
            )
        generation = Store.next_generation(db)
        return restore_in(db, tenant, exchange_id, generation, now_db_time())


def restore_in(
    db: sqlite3.Connection,
    tenant: str,
    exchange_id: int,
    generation: int,
    now: str,
    reason: str = "restored by request",
) -> dict[str, object]:
    """`restore` inside the caller's transaction, for a memory known to be refined away."""
    status, project, replaced_by = db.execute(
        "SELECT status, project, replaced_by FROM memories WHERE exchange_id = ? AND tenant = ?",
        [exchange_id, tenant],
    ).fetchone()
    detail: dict[str, object] = {
        "undid": status,
        "rule": RULE_OF_STATUS[status],
        "reason": reason,
        "before": {"status": status, "replaced_by": replaced_by},
        "after": {"status": "active"},
    }
    db.execute(
        "UPDATE memories SET status = 'active', replaced_by = NULL, updated_at = ? "
        "WHERE exchange_id = ?",
        [now, exchange_id],
    )
    db.execute("UPDATE exchanges SET generation = ? WHERE id = ?", [generation, exchange_id])
    add_history(db, tenant, project, exchange_id, now, "restored", generation, detail)
    return detail


def restore_dependents(
    db: sqlite3.Connection, tenant: str, exchange_ids: list[int], generation: int, reason: str
) -> list[int]:
    """Memories merged into or superseded by one of `exchange_ids` (which are going away:
    forgotten, or gone from their file) are active again."""
    if not exchange_ids:
        return []
    marks = ",".join("?" * len(exchange_ids))
    rows = db.execute(
        f"SELECT exchange_id FROM memories WHERE tenant = ? AND replaced_by IN ({marks}) "
        f"AND exchange_id NOT IN ({marks}) AND status IN ('merged', 'superseded') "
        "ORDER BY exchange_id",
        [tenant, *exchange_ids, *exchange_ids],
    ).fetchall()
    now = now_db_time()
    for (exchange_id,) in rows:
        restore_in(db, tenant, exchange_id, generation, now, reason)
    return [row[0] for row in rows]
