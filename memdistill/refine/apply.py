"""Writing refinement.

Each change is checked again when written (the memory and its target still active), takes
its exchange out of the indexes by a new generation, and leaves a history row with before,
after, rule and reason. Counters never move: a merged memory keeps its own, and the rules
count them in its canonical memory's (`candidates.py`), so undoing a merge, in any order,
along any chain, has nothing to give back. Changes are written in batches, one transaction
each: an interrupted run leaves whole changes only.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from memdistill.refine.base import Change
from memdistill.store.history import add_history
from memdistill.store.store import Store, now_db_time
from memdistill.store.usage import counters_of

BATCH = 200
OnChange = Callable[[Change, bool], None]  # (change, written); raising rolls the batch back


def apply_changes(
    store: Store, tenant: str, changes: Sequence[Change], *, on_change: OnChange | None = None
) -> tuple[list[Change], list[Change]]:
    """Write the changes; returns (written, skipped because the store moved on)."""
    written: list[Change] = []
    skipped: list[Change] = []
    for start in range(0, len(changes), BATCH):
        batch_written: list[Change] = []
        batch_skipped: list[Change] = []
        with store.transaction() as db:
            generation = Store.next_generation(db)
            now = now_db_time()
            for change in changes[start : start + BATCH]:
                ok = _apply_one(db, tenant, change, generation, now)
                (batch_written if ok else batch_skipped).append(change)
                if on_change:
                    on_change(change, ok)
        written += batch_written
        skipped += batch_skipped
    return written, skipped


def _status(db: sqlite3.Connection, tenant: str, exchange_id: int) -> str | None:
    row = db.execute(
        "SELECT status FROM memories WHERE exchange_id = ? AND tenant = ?", [exchange_id, tenant]
    ).fetchone()
    return None if row is None else str(row[0])


def _apply_one(
    db: sqlite3.Connection, tenant: str, change: Change, generation: int, now: str
) -> bool:
    eid, target = change.exchange_id, change.target
    if _status(db, tenant, eid) != "active":
        return False
    if target is not None and _status(db, tenant, target) != "active":
        return False
    counters = counters_of(db, eid)
    db.execute(
        "UPDATE memories SET status = ?, replaced_by = ?, updated_at = ? WHERE exchange_id = ?",
        [change.status, target, now, eid],
    )
    db.execute("UPDATE exchanges SET generation = ? WHERE id = ?", [generation, eid])
    detail = {
        "rule": change.rule,
        "reason": change.reason,
        "before": {"status": "active"},
        "after": {"status": change.status, "replaced_by": target},
        "counters": counters,
    }
    add_history(db, tenant, change.project, eid, now, change.status, generation, detail)
    if target is not None:  # the memory that stays says what it took in
        action = "merged_in" if change.rule == "merge" else "supersedes"
        gained = {"rule": change.rule, "from": eid, "counters": counters}
        add_history(db, tenant, change.project, target, now, action, generation, gained)
    return True
