"""An ingest killed midway (SIGKILL, no cleanup) loses nothing: the store opens, searches,
and a rerun finishes the job without duplicates."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from corpus import EXCHANGES, write_generic

from memdistill.api import Memory


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def test_killed_ingest_resumes_with_nothing_lost(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    files, per_file = 6, len(EXCHANGES) * 5
    for n in range(files):  # distinct conversations per file
        rows = [(f"f{n}-{conv}", *rest) for conv, *rest in EXCHANGES * 5]
        write_generic(logs / f"log{n}.jsonl", rows)
    store = tmp_path / "store"
    env = {**os.environ, "MEMDISTILL_HOME": str(store)}
    process = subprocess.Popen(
        [sys.executable, "-m", "memdistill.cli", "ingest", str(logs), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while _count(store / "memdistill.db") < 128 and process.poll() is None:
        assert time.monotonic() < deadline, "ingest never committed a batch"
        time.sleep(0.05)
    assert process.poll() is None, "ingest finished before it could be killed; make it bigger"
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = _count(store / "memdistill.db")
    assert 0 < stored < files * per_file

    with Memory.open(store) as memory:  # opens, catches its indexes up, searches
        assert memory.search("database is locked", k=3)
        assert len(memory.indexes) == stored
        report = memory.ingest(logs)
        assert report.problems == []
        total = memory.store.db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0]
        assert total == files * per_file
        assert report.exchanges_added == total - stored
        assert len(memory.indexes) == total
        unique = memory.store.db.execute(
            "SELECT COUNT(DISTINCT conversation_id || '/' || external_id) FROM exchanges"
        ).fetchone()[0]
        assert unique == total
        assert memory.ingest(logs).exchanges_added == 0
