"""The SQLite file: opening, migrating, one connection per thread, transactions, meta."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from memdistill.errors import EmbedderMismatchError, StoreError
from memdistill.store.schema import migrations

DB_NAME = "memdistill.db"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def to_db_time(value: datetime | None) -> str | None:
    """One fixed-width UTC format, so stored times sort and compare as text."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def from_db_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=UTC)


def now_db_time() -> str:
    return to_db_time(datetime.now(UTC)) or ""


class Store:
    """A memory store folder: `memdistill.db` (the truth) and `index/` (derived)."""

    def __init__(self, folder: Path, *, create: bool = True) -> None:
        self.folder = folder
        self.path = folder / DB_NAME
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no memory store at {folder}: run `memdistill ingest PATH` to create one, "
                    "or pass --store to point at an existing store"
                )
            folder.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        db = self.db
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with self._write_lock:
                migrations.apply(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a readable memdistill database ({exc}); "
                "point --store at another folder or restore the file"
            ) from exc

    @property
    def index_folder(self) -> Path:
        return self.folder / "index"

    @property
    def db(self) -> Database:
        """This thread's connection (sqlite3 connections must not be shared across threads)."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            # Used by this thread only; check_same_thread=False just lets close() reach it.
            conn = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses no commit
            with self._connections_lock:
                self._connections.append(conn)
            db = Database(conn, execute_plugins=False)
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One writer at a time within the process; SQLite serialises across processes."""
        with self._write_lock:
            db = self.db
            with db.atomic():
                yield db

    def close(self) -> None:
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def set_meta(db: Database, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def generation(self) -> int:
        """Bumped by every committed change to what is indexed; indexes record the one they saw."""
        return int(self.get_meta("generation") or 0)

    @staticmethod
    def next_generation(db: Database) -> int:
        row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(row[0]) + 1 if row else 1
        Store.set_meta(db, "generation", str(generation))
        return generation

    def check_embedder(self, model_id: str, dim: int, backend: str) -> None:
        """The first embedder to write vectors owns the store; others are refused, not mixed."""
        recorded = self.get_meta("embedder")
        if recorded is None:
            with self.transaction() as db:
                self.set_embedder(db, model_id, dim, backend)
        elif recorded != model_id:
            raise EmbedderMismatchError(
                f"this store's vectors were made by {recorded!r}, not {model_id!r}; "
                f"use the same embedder, or run `memdistill reindex --embedder ...` to re-embed "
                "everything with the new one"
            )

    @staticmethod
    def set_embedder(db: Database, model_id: str, dim: int, backend: str) -> None:
        Store.set_meta(db, "embedder", model_id)
        Store.set_meta(db, "embedding_dim", str(dim))
        Store.set_meta(db, "embedder_backend", backend)
