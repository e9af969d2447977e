"""Reading the active memories of a tenant as refinement candidates (one pass per table).

A canonical memory's counters include those of the memories merged into it (through any
chain of merges): the rules judge what the group was served and how often it helped."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

import numpy as np

from memdistill.refine.base import RULE_OF_STATUS, Candidate


def load_candidates(
    db: sqlite3.Connection, tenant: str, project: str | None = None
) -> dict[int, Candidate]:
    where, params = "m.tenant = ? AND m.status = 'active'", [tenant]
    if project is not None:
        where += " AND m.project = ?"
        params.append(project)
    rows = db.execute(
        "SELECT m.exchange_id, m.project, COALESCE(e.started_at, ''), COALESCE(u.freq, 0), "
        "COALESCE(u.utility, 0), COALESCE(u.verdicts, 0), m.exchange_core FROM memories m "
        "JOIN exchanges e ON e.id = m.exchange_id "
        f"LEFT JOIN usage u ON u.exchange_id = m.exchange_id WHERE {where}",
        params,
    ).fetchall()
    scoped = f"SELECT exchange_id FROM memories m WHERE {where}"
    rooms: dict[int, set[str]] = defaultdict(set)
    for eid, key in db.execute(
        "SELECT mr.exchange_id, r.key FROM memory_rooms mr JOIN rooms r ON r.id = mr.room_id "
        f"WHERE mr.exchange_id IN ({scoped})",
        params,
    ):
        rooms[eid].add(key)
    files: dict[int, set[str]] = defaultdict(set)
    for eid, path in db.execute(
        f"SELECT exchange_id, path FROM files_touched WHERE exchange_id IN ({scoped})", params
    ):
        files[eid].add(path)
    prompts: dict[int, list[str]] = defaultdict(list)
    for eid, text in db.execute(
        f"SELECT exchange_id, text FROM messages WHERE kind = 'prompt' AND exchange_id IN "
        f"({scoped}) ORDER BY exchange_id, seq",
        params,
    ):
        prompts[eid].append(text)
    vectors = {
        eid: np.frombuffer(blob, dtype=np.float32)
        for eid, blob in db.execute(
            "SELECT exchange_id, vector FROM embeddings WHERE layer = 'distilled' "
            f"AND exchange_id IN ({scoped})",
            params,
        )
    }
    restored: dict[int, set[str]] = defaultdict(set)
    for eid, detail in db.execute(
        f"SELECT exchange_id, detail FROM history WHERE action = 'restored' "
        f"AND exchange_id IN ({scoped})",
        params,
    ):
        undone = json.loads(detail or "{}").get("undid")
        if undone in RULE_OF_STATUS:
            restored[eid].add(RULE_OF_STATUS[undone])
    pool = {
        eid: Candidate(
            id=eid,
            project=proj,
            started_at=started,
            freq=freq,
            utility=utility,
            verdicts=verdicts,
            rooms=frozenset(rooms[eid]),
            files=frozenset(files[eid]),
            core=core,
            prompt="\n".join(prompts[eid]),
            vector=vectors.get(eid),
            restored_from=frozenset(restored[eid]),
        )
        for eid, proj, started, freq, utility, verdicts, core in rows
    }
    _add_merged_counters(db, tenant, pool)
    return pool


def _add_merged_counters(db: sqlite3.Connection, tenant: str, pool: dict[int, Candidate]) -> None:
    merged: dict[int, tuple[int, int, int, int]] = {
        row[0]: row[1:]
        for row in db.execute(
            "SELECT m.exchange_id, m.replaced_by, COALESCE(u.freq, 0), COALESCE(u.utility, 0), "
            "COALESCE(u.verdicts, 0) FROM memories m LEFT JOIN usage u "
            "ON u.exchange_id = m.exchange_id WHERE m.tenant = ? AND m.status = 'merged'",
            [tenant],
        )
    }
    for eid, (target, freq, utility, verdicts) in merged.items():
        seen = {eid}
        while target in merged and target not in seen:  # merged again, in a later run
            seen.add(target)
            target = merged[target][0]
        canonical = pool.get(target)
        if canonical is not None:
            canonical.freq += freq
            canonical.utility += utility
            canonical.verdicts += verdicts
