"""A memory's history: every change to it, written by `add_history`, read oldest first."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: str  # UTC, as stored
    action: str  # created, updated, redistilled, feedback, merged, merged_in, restored, ...
    generation: int
    detail: dict[str, Any]


def history_of(db: sqlite3.Connection, tenant: str, exchange_id: int) -> list[HistoryEntry]:
    return [
        HistoryEntry(row[0], row[1], row[2], json.loads(row[3]) if row[3] else {})
        for row in db.execute(
            "SELECT at, action, generation, detail FROM history WHERE tenant = ? "
            "AND exchange_id = ? ORDER BY id",
            [tenant, exchange_id],
        )
    ]


def add_history(
    db: sqlite3.Connection,
    tenant: str,
    project: str,
    exchange_id: int,
    at: str,
    action: str,
    generation: int,
    detail: dict[str, Any],
) -> None:
    """One row of a memory's history: what happened to it, when, and the details."""
    db.execute(
        "INSERT INTO history (tenant, project, exchange_id, at, action, generation, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [tenant, project, exchange_id, at, action, generation,
         json.dumps(detail, ensure_ascii=False)],
    )  # fmt: skip
