"""Usage signals for refinement (after ReMe): how often a memory was served to a caller
(`freq`) and how often a caller said it helped (`utility`).

Serving is counted in memory and written in one transaction per flush, so a search costs
no write of its own; `Memory.close()` flushes what is left. Evaluation runs search through
`Retriever` directly and are never counted.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable

from memdistill.errors import NotFoundError
from memdistill.store.history import add_history
from memdistill.store.store import Store, now_db_time

COUNTERS = ("freq", "utility", "verdicts")
FLUSH_EVERY = 256  # served hits buffered before a write
FLUSH_SECONDS = 30.0  # ... or this old


class UsageRecorder:
    def __init__(self, store: Store, tenant: str) -> None:
        self.store = store
        self.tenant = tenant
        self._served: Counter[int] = Counter()
        self._last: dict[int, str] = {}
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def served(self, exchange_ids: Iterable[int]) -> None:
        """Count one serving of each id (a search's hits)."""
        now = now_db_time()
        with self._lock:
            for exchange_id in exchange_ids:
                self._served[exchange_id] += 1
                self._last[exchange_id] = now
            due = (
                sum(self._served.values()) >= FLUSH_EVERY
                or time.monotonic() - self._since > FLUSH_SECONDS
            )
        if due:
            self.flush()

    def flush(self) -> int:
        """Write the buffered counts; returns how many memories they touched."""
        with self._lock:
            served, last = self._served, self._last
            self._served, self._last, self._since = Counter(), {}, time.monotonic()
        if not served:
            return 0
        with self.store.transaction() as db:
            db.executemany(
                "UPDATE usage SET freq = freq + ?, last_served = ? "
                "WHERE exchange_id = ? AND tenant = ?",
                [(n, last[i], i, self.tenant) for i, n in served.items()],
            )
        return len(served)

    def feedback(self, exchange_ids: Iterable[int], useful: bool) -> int:
        """A caller's verdict on memories it used: useful ones gain utility. Either way a
        history row keeps the verdict. Unknown ids (or another tenant's) raise, and
        nothing is written."""
        ids = sorted(set(exchange_ids))
        if not ids:
            return 0
        self.flush()  # a verdict follows the serving it judges
        with self.store.transaction() as db:
            marks = ",".join("?" * len(ids))
            rows = db.execute(
                f"SELECT exchange_id, project FROM usage WHERE tenant = ? "
                f"AND exchange_id IN ({marks})",
                [self.tenant, *ids],
            ).fetchall()
            found = {row[0]: row[1] for row in rows}
            missing = [i for i in ids if i not in found]
            if missing:
                raise NotFoundError(
                    f"no memory {', '.join(map(str, missing))} in this store; "
                    "use the ids that search printed"
                )
            now = now_db_time()
            db.executemany(
                "UPDATE usage SET verdicts = verdicts + 1, utility = utility + ?, "
                "last_useful = CASE WHEN ? THEN ? ELSE last_useful END "
                "WHERE exchange_id = ? AND tenant = ?",
                [(int(useful), useful, now, i, self.tenant) for i in ids],
            )
            generation = self.store.generation()
            for i in ids:
                add_history(
                    db, self.tenant, found[i], i, now, "feedback", generation, {"useful": useful}
                )
        return len(ids)


def usage_of(store: Store, tenant: str, exchange_id: int) -> dict[str, object] | None:
    row = store.db.execute(
        "SELECT freq, utility, verdicts, last_served, last_useful FROM usage "
        "WHERE exchange_id = ? AND tenant = ?",
        [exchange_id, tenant],
    ).fetchone()
    if row is None:
        return None
    keys = ("freq", "utility", "verdicts", "last_served", "last_useful")
    return dict(zip(keys, row, strict=True))


def counters_of(db: sqlite3.Connection, exchange_id: int) -> dict[str, int]:
    """A memory's own counters (zeros for one never served)."""
    row = db.execute(
        f"SELECT {', '.join(COUNTERS)} FROM usage WHERE exchange_id = ?", [exchange_id]
    ).fetchone() or (0,) * len(COUNTERS)
    return dict(zip(COUNTERS, row, strict=True))
