"""The SQLite file: opening, migrating, one connection per thread, transactions, meta."""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from memdistill.errors import EmbedderMismatchError, StoreError
from memdistill.store.schema import migrate

ROW_ID_MAX = 2**63 - 1  # SQLite's INTEGER: a larger id must be refused before it reaches a query

DB_NAME = "memdistill.db"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# meta "embedder" while a re-embedding is under way; the backend name follows.
INCOMPLETE = "incomplete re-embedding with "
BUSY_TIMEOUT_S = 60  # how long a write waits for another process's write to end
CHECKPOINT_WAIT_MS = 5000  # how long a scrub waits for readers to leave the WAL
SCRUB_PENDING = "scrub_pending"  # meta key: set with a forget's deletions, cleared by scrub


def to_db_time(value: datetime | None) -> str | None:
    """One fixed-width UTC format, so stored times sort and compare as text. (Not
    strftime: its %Y does not pad years before 1000 on every platform.) A time with no UTC
    equivalent (year 1 at +05:00) is clamped to the first or last one, so a filter that
    far out still means "from the beginning" or "to the end"."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = datetime.min if value.year < 5000 else datetime.max
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


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
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store folder {folder} ({exc.strerror or exc}); "
                    "pass --store with a writable folder"
                ) from exc
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._connections: set[sqlite3.Connection] = set()
        self._connections_lock = threading.Lock()
        try:
            db = self.db
            db.execute("PRAGMA journal_mode=WAL")
            with self._write_lock:
                migrate(db)
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"cannot open {self.path} ({exc}); if another memdistill is writing to it, "
                "wait for it and retry; otherwise check the folder's permissions"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"{self.path} is not a readable memdistill database ({exc}); "
                "point --store at another folder or restore the file"
            ) from exc

    @property
    def index_folder(self) -> Path:
        return self.folder / "index"

    @property
    def db(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections must not be shared across threads)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Used by this thread only; check_same_thread=False just lets close() reach it.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; a crash loses no commit
            with self._connections_lock:
                self._connections.add(conn)
            # A thread that ends (a request handler, a pool worker) takes its connection along.
            weakref.finalize(threading.current_thread(), self._forget, conn)
            db = conn
            self._local.db = db
        return db

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._connections_lock:
            if conn in self._connections:
                self._connections.discard(conn)
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction. BEGIN IMMEDIATE takes SQLite's write lock up front, so a
        second process waits its turn (busy timeout) instead of failing on a stale read
        snapshot; nested use becomes a savepoint. One writer at a time within the process."""
        with self._write_lock:
            db = conn = self.db
            if conn.in_transaction:
                conn.execute("SAVEPOINT nested")
                try:
                    yield db
                except BaseException:  # any exit, Ctrl-C too, must undo; then re-raised
                    conn.execute("ROLLBACK TO SAVEPOINT nested")
                    conn.execute("RELEASE SAVEPOINT nested")
                    raise
                conn.execute("RELEASE SAVEPOINT nested")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:  # any exit, Ctrl-C too, must undo; then re-raised
                conn.rollback()
                raise
            conn.execute("COMMIT")

    def scrub(self) -> bool:
        """Rewrite the file so deleted rows leave no trace on disk: VACUUM (no free page
        keeps old content), then a TRUNCATE checkpoint (the WAL holds old pages too). Runs
        outside any transaction, as VACUUM must. Returns whether both were done: another
        process writing, or reading an old snapshot, can stop them; what they were to
        erase is already deleted, so that is reported rather than raised."""
        with self._write_lock:
            db = self.db
            try:
                db.execute("VACUUM")
                # A reader on an old snapshot may hold it for long: wait a little, not 60 s.
                db.execute(f"PRAGMA busy_timeout={CHECKPOINT_WAIT_MS}")
                busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:  # busy past the timeout
                return False
            finally:
                db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            if int(busy) != 0:
                return False
            with self.transaction() as tx:  # done (the WAL now holds just this meta page)
                tx.execute("DELETE FROM meta WHERE key = ?", [SCRUB_PENDING])
        return True

    def scrub_pending(self) -> bool:
        """Whether a forget committed its deletions but was stopped before its scrub."""
        return self.get_meta(SCRUB_PENDING) is not None

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
    def set_meta(db: sqlite3.Connection, key: str, value: str) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    def generation(self) -> int:
        """Bumped by every committed change to what is indexed; indexes record the one they saw."""
        return int(self.get_meta("generation") or 0)

    @staticmethod
    def next_generation(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(row[0]) + 1 if row else 1
        Store.set_meta(db, "generation", str(generation))
        return generation

    def check_embedder(self, model_id: str, dim: int, backend: str) -> None:
        """The first embedder to write vectors owns the store; others are refused, not mixed."""
        if self.get_meta("embedder") is None:
            with self.transaction() as db:
                if db.execute("SELECT 1 FROM meta WHERE key = 'embedder'").fetchone() is None:
                    self.set_embedder(db, model_id, dim, backend)
        self.require_embedder(model_id, backend)

    def require_embedder(self, model_id: str, backend: str) -> None:
        """Refuse an embedder whose vectors would not match the stored ones."""
        recorded = self.get_meta("embedder")
        if recorded is None or recorded == model_id:
            return
        if recorded.startswith(INCOMPLETE):
            target = recorded.removeprefix(INCOMPLETE)
            raise EmbedderMismatchError(
                f"a re-embedding of this store with {target} was interrupted; finish it with "
                f"`memdistill reindex --embedder {target}`"
            )
        raise EmbedderMismatchError(
            f"this store's vectors were made by {recorded!r}, not {model_id!r} ({backend}); "
            f"open it with the same embedder, or run `memdistill reindex --embedder {backend}` "
            "to re-embed everything"
        )

    @staticmethod
    def set_embedder(db: sqlite3.Connection, model_id: str, dim: int, backend: str) -> None:
        Store.set_meta(db, "embedder", model_id)
        Store.set_meta(db, "embedding_dim", str(dim))
        Store.set_meta(db, "embedder_backend", backend)
