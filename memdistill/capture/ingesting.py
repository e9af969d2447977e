"""What every automatic ingest shares: one at a time per store, and a cheap look first.

`watch` and the Claude Code hook may both see a session change; two processes ingesting
the same file at once would both insert its new exchange. Automatic ingests therefore
queue on one file lock in the store folder (it waits; nobody is blocked on it: the hook's
ingest runs detached, the watcher has nothing else to do).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

if TYPE_CHECKING:
    from memdistill.api import Memory
    from memdistill.ingest import IngestReport
    from memdistill.store.store import Store

LOCK_NAME = "capture.lock"


def capture_lock(store_folder: Path) -> FileLock:
    store_folder.mkdir(parents=True, exist_ok=True)
    return FileLock(store_folder / LOCK_NAME)


def ingest_queued(memory: Memory, paths: Iterable[Path]) -> IngestReport:
    """`memory.ingest(paths)` once no other automatic ingest of this store is running."""
    with capture_lock(memory.store.folder):
        return memory.ingest(list(paths))


def all_unchanged(store: Store, tenant: str, files: Iterable[Path]) -> bool:
    """Whether every file is stored with its current content (so an ingest would only load
    the model and the indexes to find nothing to do)."""
    from memdistill.ingest import stored_as_is

    try:
        return all(stored_as_is(store, tenant, path) for path in files)
    except OSError:
        return False  # let the ingest say what is wrong
