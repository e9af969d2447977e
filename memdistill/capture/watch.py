"""`memdistill watch`: keep a store current as sessions grow.

The operating system says when a file changes (watchdog: inotify, FSEvents,
ReadDirectoryChangesW; no polling, so a quiet machine costs nothing). A changed file waits
in `Pending` until it has been quiet for `settle` seconds, or has been changing for
`max_wait` seconds without a pause (a long turn still shows up while it runs), then it is
ingested; ingest is incremental, so a grown session adds only its new exchanges and
completes the one that was cut off. At start every watched place is caught up first,
which is what makes a restart safe: whatever changed while the watcher was down is
ingested then (an unchanged file costs one read and hash).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from memdistill.capture.archives import is_archive
from memdistill.capture.ingesting import ingest_queued
from memdistill.errors import ConfigError, FormatError, StoreError

if TYPE_CHECKING:
    from memdistill.api import Memory
    from memdistill.ingest import IngestReport


@dataclass(frozen=True)
class Target:
    """A place to watch. `folder`: chat logs anywhere below it (as a folder ingest walks);
    `file`: that file only; `exports`: export zips directly in it."""

    path: Path
    kind: str  # "folder" | "file" | "exports"

    @property
    def watched(self) -> Path:
        return self.path.parent if self.kind == "file" else self.path

    @property
    def recursive(self) -> bool:
        return self.kind == "folder"

    def accepts(self, path: Path) -> bool:
        from memdistill.ingest import in_folder_walk
        from memdistill.sources import hidden_log_paths

        if self.kind == "file":
            return path == self.path
        try:
            inside = path.relative_to(self.path)
        except ValueError:
            return False
        if self.kind == "exports":
            return len(inside.parts) == 1 and is_archive(path)
        return in_folder_walk(inside, hidden_log_paths())

    def catch_up_paths(self) -> list[Path]:
        if self.kind == "exports":
            return sorted(p for p in self.path.iterdir() if self.accepts(p) and _is_export(p))
        return [self.path]


def targets_for(paths: Iterable[Path]) -> list[Target]:
    """Targets for paths a person named: folders watched below, files by themselves."""
    return [Target(p.absolute(), "folder" if p.is_dir() else "file") for p in paths if p.exists()]


class Pending:
    """Changed files, each due once quiet for `settle` s or pending for `max_wait` s."""

    def __init__(
        self, settle: float, max_wait: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settle = settle
        self.max_wait = max_wait
        self.clock = clock
        self._first: dict[Path, float] = {}
        self._last: dict[Path, float] = {}
        self._stopped = False
        self._changed = threading.Condition()

    def changed(self, path: Path) -> None:
        with self._changed:
            now = self.clock()
            self._first.setdefault(path, now)
            self._last[path] = now
            self._changed.notify()

    def take_due(self) -> list[Path]:
        """The files due now, taken out (a change after this makes them pending again)."""
        with self._changed:
            now = self.clock()
            due = sorted(p for p in self._first if self._due_at(p) <= now)
            for path in due:
                del self._first[path], self._last[path]
            return due

    def next_due(self) -> float | None:
        with self._changed:
            return min((self._due_at(p) for p in self._first), default=None)

    def wait(self) -> list[Path]:
        """Block until some files are due (no timer runs while nothing is pending);
        [] once stopped."""
        while True:
            with self._changed:
                if self._stopped:
                    return []
                due_at = min((self._due_at(p) for p in self._first), default=None)
                if due_at is None or due_at > self.clock():
                    timeout = None if due_at is None else max(due_at - self.clock(), 0.0)
                    self._changed.wait(timeout)
                    continue
            return self.take_due()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()

    def _due_at(self, path: Path) -> float:
        return min(self._last[path] + self.settle, self._first[path] + self.max_wait)


@dataclass
class WatchEvent:
    """What one ingest did, for the one line the watcher prints about it."""

    kind: str  # "caught-up" (a target at start) | "ingested" (a settled file)
    path: Path
    report: IngestReport | None = None
    error: str | None = None


class Watcher:
    def __init__(
        self,
        memory: Memory,
        targets: list[Target],
        *,
        settle: float,
        max_wait: float,
        on_event: Callable[[WatchEvent], None],
    ) -> None:
        self.memory = memory
        self.targets = targets
        self.pending = Pending(settle, max_wait)
        self.on_event = on_event

    def run(self) -> None:
        """Catch up, then ingest settled files until `stop()` or KeyboardInterrupt."""
        observer = Observer()
        for target in self.targets:
            handler = _Handler(target, self.pending)
            observer.schedule(handler, str(target.watched), recursive=target.recursive)
        try:
            observer.start()  # before catching up: what changes meanwhile is pending
        except OSError as exc:
            observer.stop()
            hint = (
                " (on Linux: sudo sysctl fs.inotify.max_user_watches=524288, or watch fewer "
                "folders)"
                if exc.errno in (errno.ENOSPC, errno.EMFILE)
                else ""
            )
            raise ConfigError(f"cannot watch the folders: {exc.strerror or exc}{hint}") from exc
        try:
            for target in self.targets:
                self._ingest("caught-up", target.path, target.catch_up_paths())
            while due := self.pending.wait():
                for path in due:
                    if _is_chat_log(path):
                        self._ingest("ingested", path, [path])
        finally:
            observer.stop()
            observer.join(timeout=5)

    def stop(self) -> None:
        self.pending.stop()

    def _ingest(self, kind: str, path: Path, paths: list[Path]) -> None:
        if not paths:
            return
        try:
            report = ingest_queued(self.memory, paths)
        except (ConfigError, StoreError):
            raise  # the settings or the store: every ingest would fail the same way
        except Exception as exc:  # one file's trouble must not end a watcher meant to run
            self.on_event(WatchEvent(kind, path, error=f"{type(exc).__name__}: {exc}"))
            return
        self.on_event(WatchEvent(kind, path, report))


class _Handler(FileSystemEventHandler):
    """watchdog's callback (on its thread): note the changed file, nothing more. Reading
    a file (our own ingest) raises no event that counts."""

    def __init__(self, target: Target, pending: Pending) -> None:
        self.target = target
        self.pending = pending

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
            return
        raw = event.dest_path if event.event_type == "moved" else event.src_path
        path = Path(os.fsdecode(raw))
        if self.target.accepts(path):
            self.pending.changed(path)


def _is_chat_log(path: Path) -> bool:
    """Whether a changed file is worth an ingest: a chat log or an export zip (a folder
    holds other files too, which an ingest of the file alone would report as failed)."""
    if not path.is_file():
        return False  # gone again (a temporary file renamed away)
    if is_archive(path):
        return _is_export(path)
    from memdistill.sources import detect_parser

    try:
        detect_parser(path)
    except FormatError:
        return False
    return True


def _is_export(path: Path) -> bool:
    from memdistill.capture.discover import export_format

    return export_format(path) is not None
