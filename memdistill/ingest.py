"""Ingest: files -> parsed conversations -> exchanges -> distilled, embedded, stored, indexed.

Incremental by construction: an unchanged file (same sha256, read by the same revision of
its parser) is skipped whole; otherwise
every exchange is compared with the stored one by content hash, so a re-ingest adds
nothing and a grown session adds its new exchanges and completes the one that was cut off.
A file counts as done only once all its exchanges are committed, so an ingest killed
midway redoes at most the unfinished files, skipping what was already stored.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from memdistill.capture.archives import (
    archive_of,
    chat_members,
    is_archive,
    is_member,
    source_key,
)
from memdistill.distill.base import Distiller
from memdistill.embed.base import Embedder
from memdistill.errors import FormatError, MemdistillError
from memdistill.exchanges import content_hash, render_verbatim
from memdistill.index.layers import Indexes
from memdistill.kept_scrub import recorded_sources
from memdistill.models import Conversation, Exchange, Message, Problem
from memdistill.native_memory import pin_mmap_threshold
from memdistill.sources import PARSERS, detect_parser, get_parser, hidden_log_paths
from memdistill.store import kept as kept_copies
from memdistill.store.read import conversation_known, existing_exchanges, source_hash
from memdistill.store.store import Store, now_db_time
from memdistill.store.write import (
    ExchangeRecord,
    ensure_conversation,
    ensure_source,
    mark_source_done,
    record_distill_run,
    retire_missing,
    write_loose_messages,
    write_records,
)
from memdistill.tokens import count_tokens_many
from memdistill.tombstones import sort_out

# File endings a folder walk considers; a file named on the command line is always tried.
WALK_SUFFIXES = frozenset({".jsonl", ".json", ".md", ".txt", ".log"})
BATCH_SIZE = 128
_JSON_KEY = re.compile(r'"([^"\\\n]{1,40})"\s*:')
SAVE_EVERY_SECONDS = 60.0


@dataclass(slots=True, frozen=True)
class InternalConversation:
    """A conversation the agent held with itself (a compaction or warmup agent): stored with
    its messages, kept out of the exchanges and the indexes."""

    path: str
    conversation_id: str
    why: str


@dataclass
class IngestReport:
    files: int = 0
    files_unchanged: int = 0
    files_failed: int = 0
    files_skipped: int = 0  # found in a folder but not a chat log (a README, say)
    skipped: list[Problem] = field(default_factory=list)  # those files, each with why
    internal: list[InternalConversation] = field(default_factory=list)  # stored, not indexed
    conversations: int = 0
    exchanges_added: int = 0
    exchanges_updated: int = 0
    exchanges_skipped: int = 0
    exchanges_left_source: int = 0  # written from a file before, no longer in it (kept, inactive)
    exchanges_forgotten_skipped: int = 0  # deleted by `memdistill forget`: not written back
    problems: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    llm: dict[str, Any] | None = None  # an LLM distiller's token account for this run

    def time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds


@dataclass(slots=True)
class Progress:
    bytes_done: int
    bytes_total: int
    exchanges_done: int  # committed
    current: str
    distilled: int = 0  # distilled so far (ahead of committed within a batch)
    llm: dict[str, Any] | None = None  # an LLM distiller's account so far


ProgressCallback = Callable[[Progress], None]


@dataclass(slots=True)
class _Work:
    conversation_row: int
    source_row: int
    exchange: Exchange
    content_hash: str
    existing_id: int | None


@dataclass(slots=True)
class _OpenFile:
    source_row: int
    fmt: str
    size: int
    fingerprint: str  # what `_read_before` compares with: its sha256 and the parser's revision
    last_item: int  # the file is done once this many work items are committed
    seen: set[tuple[int, str]]  # its exchanges as parsed now; others it wrote are gone


class Ingestor:
    def __init__(
        self,
        store: Store,
        tenant: str,
        indexes: Indexes,
        embedder: Embedder,
        embedder_name: str,
        distiller: Distiller,
        *,
        batch_size: int | None = None,
    ) -> None:
        self.embedder_name = embedder_name
        self.store = store
        self.tenant = tenant
        self.indexes = indexes
        self.embedder = embedder
        self.distiller = distiller
        self.batch_size = batch_size or distiller.batch_size or BATCH_SIZE

    def run(
        self,
        paths: Iterable[str | Path],
        *,
        fmt: str | None = None,
        project: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started, started_at = time.perf_counter(), now_db_time()
        pin_mmap_threshold()  # an ingest's peak memory is mostly heap fragmentation otherwise
        report = self._report = IngestReport()
        files = list(expand_paths(paths, report))
        self._total_bytes = sum(size for _, size, _ in files)
        self._bytes_done = 0  # of files whose exchanges are all committed (or need none)
        self._on_progress = on_progress
        self._pending: list[_Work] = []
        self._open_files: list[_OpenFile] = []
        self._enqueued = self._committed = self._distilled = 0
        self.distiller.begin_run()
        spent_before = self.distiller.account()
        self._last_save = time.perf_counter()
        self._dirty = False
        for path, size, named in files:
            report.files += 1
            self._current = path.name
            if not self._ingest_file(path, fmt, project, report, named):
                self._bytes_done += size
            self._tick()
        self._flush(report)
        self._current = ""
        self._tick()
        if self._dirty:
            self._save(report)
        spent = self.distiller.account()
        if spent is not None and spent != spent_before:
            report.llm = spent_since(spent_before, spent)
            record_distill_run(self.store, self.tenant, "ingest", started_at, report.llm)
        report.time("total", time.perf_counter() - started)
        return report

    def _ingest_file(
        self, path: Path, fmt: str | None, project: str | None, report: IngestReport, named: bool
    ) -> bool:
        """Parse a file and queue its new exchanges; False when it needs no more work."""
        key = source_key(path)
        if is_member(path) and kept_copies.kept_kind(
            self.store.folder, self.tenant, archive_of(path)
        ):
            # A forget scrubs the service's kept copies by parsing them, and opens no zip.
            report.files_failed += 1
            why = "a zip sent to the service is not read: send the conversations.json in it"
            report.problems.append(Problem(str(path), None, why))
            return False
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.files_failed += 1
            report.problems.append(Problem(str(path), None, f"cannot read the file: {exc}"))
            return False
        sha256 = hashlib.sha256(data).hexdigest()
        if _read_before(source_hash(self.store.db, self.tenant, key), sha256):
            report.files_unchanged += 1
            return False
        t0 = time.perf_counter()
        try:
            parser = get_parser(fmt) if fmt else detect_parser(path)
        except FormatError as exc:
            if named:
                report.files_failed += 1
                report.problems.append(Problem(str(path), exc.line, _reason(exc)))
            else:  # a folder holds other files too; only a file you named must be a chat log
                report.files_skipped += 1
                report.skipped.append(Problem(str(path), None, _not_a_chat_log(data)))
            return False
        try:
            conversations = list(parser.parse(path, report.problems.append))
        except (FormatError, UnicodeDecodeError) as exc:
            report.files_failed += 1
            report.problems.append(Problem(str(path), getattr(exc, "line", None), _reason(exc)))
            return False
        report.time("parse", time.perf_counter() - t0)
        source_row = ensure_source(self.store, self.tenant, key, parser.name)
        seen: set[tuple[int, str]] = set()  # (conversation row, exchange id) in this file now
        tombstoned: list[Message] = []  # forgotten, yet in the file again
        is_kept = (
            not is_member(path)
            and kept_copies.kept_kind(self.store.folder, self.tenant, path) is not None
        )
        keys = [key, *self._earlier_paths(path, key)] if is_kept else [key]
        for conversation in conversations:
            conversation.source_id = self._stored_id(conversation, keys)
            conversation.project = conversation.project or project or parser.name
            report.conversations += 1
            if conversation.internal:  # split into no exchange: its messages are kept loose
                report.internal.append(
                    InternalConversation(str(path), conversation.source_id, conversation.internal)
                )
            # Deleted by `memdistill forget`: never written back.
            sorted_out = sort_out(self.store.db, self.tenant, conversation)
            exchanges = sorted_out.exchanges
            if sorted_out.forgotten:
                report.exchanges_forgotten_skipped += sorted_out.skipped
                tombstoned += sorted_out.forgotten
                if not exchanges:
                    continue  # not even an empty conversation row comes back
            row = ensure_conversation(
                self.store, self.tenant, conversation, parser.name, conversation.project, source_row
            )
            if not exchanges:
                if conversation.messages:
                    write_loose_messages(
                        self.store, self.tenant, conversation.project, row, conversation.messages
                    )
                continue
            if any(work.conversation_row == row for work in self._pending):
                # The same conversation came earlier in this run (two exports, a path named
                # twice): commit that copy first, so this one compares against it.
                self._flush(report)
            stored = existing_exchanges(self.store.db, row)
            for exchange in exchanges:
                seen.add((row, exchange.source_id))
                digest = content_hash(exchange.messages)
                previous = stored.get(exchange.source_id)
                if previous and previous[1] == digest:
                    report.exchanges_skipped += 1
                    continue
                self._pending.append(
                    _Work(row, source_row, exchange, digest, previous[0] if previous else None)
                )
                self._enqueued += 1
                if len(self._pending) >= self.batch_size:
                    self._flush(report)
        # A kept copy of what the service was sent must not keep them (a user's own file
        # elsewhere is theirs).
        fingerprint = f"{sha256} {parser.name} r{parser.revision}"
        if is_kept and tombstoned and kept_copies.scrub(path, tombstoned).changed:
            fingerprint = ""  # the file is not what was read: read it again next time
        self._open_files.append(
            _OpenFile(source_row, parser.name, len(data), fingerprint, self._enqueued, seen)
        )
        self._close_finished_files()
        return True

    def _earlier_paths(self, path: Path, key: str) -> list[str]:
        """Where the store recorded this kept copy before it moved with the store folder
        (a user's own file is known by its own path only)."""
        recorded = recorded_sources(self.store.db, self.store.folder, self.tenant, path.name)
        return [p for p in recorded.get(key, ([], ""))[0] if p != key]

    def _stored_id(self, conversation: Conversation, keys: list[str]) -> str:
        """The id the store knows the conversation by: an id made from the file is scoped by
        its path, and by an earlier one when the store already holds (or forgot) it so."""
        ids = [conversation.stored_id(k) for k in keys]
        earlier = (i for i in ids[1:] if conversation_known(self.store.db, self.tenant, i))
        return next(earlier, ids[0])

    def _flush(self, report: IngestReport) -> None:
        batch, self._pending = self._pending, []
        if batch:
            self._write(batch, report)
            self._committed += len(batch)
            self._dirty = True
            if time.perf_counter() - self._last_save > SAVE_EVERY_SECONDS:
                self._save(report)
        self._close_finished_files()
        self._tick()

    def _write(self, batch: list[_Work], report: IngestReport) -> None:
        exchanges = [w.exchange for w in batch]
        t0 = time.perf_counter()
        memories = self.distiller.distill_many(exchanges, self._distilled_one)
        t1 = time.perf_counter()
        verbatim = [render_verbatim(e.messages) for e in exchanges]
        distilled = [m.text for m in memories]
        verbatim_tokens = count_tokens_many(verbatim)
        distilled_tokens = count_tokens_many(distilled)
        t2 = time.perf_counter()
        self.store.check_embedder(self.embedder.model_id, self.embedder.dim, self.embedder_name)
        verbatim_vectors = self.embedder.embed(verbatim)
        distilled_vectors = self.embedder.embed(distilled)
        t3 = time.perf_counter()
        records = [
            ExchangeRecord(
                conversation_row=work.conversation_row,
                source_row=work.source_row,
                exchange=work.exchange,
                content_hash=work.content_hash,
                distilled=memory,
                verbatim_tokens=vt,
                distilled_tokens=dt,
                verbatim_vector=vv,
                distilled_vector=dv,
                existing_id=work.existing_id,
            )
            for work, memory, vt, dt, vv, dv in zip(
                batch,
                memories,
                verbatim_tokens,
                distilled_tokens,
                verbatim_vectors,
                distilled_vectors,
                strict=True,
            )
        ]
        write_records(self.store, self.tenant, records)
        t4 = time.perf_counter()
        self.indexes.catch_up(self.store, self.tenant)
        t5 = time.perf_counter()
        report.exchanges_added += sum(1 for w in batch if w.existing_id is None)
        report.exchanges_updated += sum(1 for w in batch if w.existing_id is not None)
        for stage, seconds in (
            ("distill", t1 - t0),
            ("tokens", t2 - t1),
            ("embed", t3 - t2),
            ("write", t4 - t3),
            ("index", t5 - t4),
        ):
            report.time(stage, seconds)

    def _close_finished_files(self) -> None:
        still_open = []
        for file in self._open_files:
            if file.last_item <= self._committed:
                gone = retire_missing(self.store, self.tenant, file.source_row, file.seen)
                self._report.exchanges_left_source += gone
                mark_source_done(self.store, file.source_row, file.fmt, file.size, file.fingerprint)
                self._bytes_done += file.size
            else:
                still_open.append(file)
        self._open_files = still_open

    def _distilled_one(self, _: object) -> None:
        self._distilled += 1  # pool threads: += on an int is atomic enough for a progress bar
        self._tick()

    def _tick(self) -> None:
        if self._on_progress:
            self._on_progress(
                Progress(
                    self._bytes_done,
                    self._total_bytes,
                    self._committed,
                    self._current,
                    max(self._distilled, self._committed),
                    self.distiller.account(),
                )
            )

    def _save(self, report: IngestReport) -> None:
        t0 = time.perf_counter()
        self.indexes.save()
        self._last_save = time.perf_counter()
        self._dirty = False
        report.time("save", self._last_save - t0)


def spent_since(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """A distiller's account over one run: counters are differences, the rest as after."""
    if before is None:
        return after
    out = dict(after)
    for name, value in after.items():
        if isinstance(value, int) and isinstance(before.get(name), int):
            out[name] = value - before[name]
    reasons = dict(after.get("fallback_reasons") or {})
    for reason, n in (before.get("fallback_reasons") or {}).items():
        reasons[reason] = reasons.get(reason, 0) - n
    out["fallback_reasons"] = {r: n for r, n in reasons.items() if n > 0}
    price_in, price_out = after.get("price_in"), after.get("price_out")
    if price_in is not None and price_out is not None:  # the cost of this run's tokens
        out["cost_usd"] = (
            out["prompt_tokens"] * price_in + out["completion_tokens"] * price_out
        ) / 1e6
    return out


def expand_paths(
    paths: Iterable[str | Path], report: IngestReport
) -> Iterator[tuple[Path, int, bool]]:
    """(path, size, named on the command line) for files named directly and the
    chat-log-looking files below folders, in sorted order, each file once."""
    seen: set[str] = set()
    for path, size, named in _walk(paths, report):
        key = source_key(path)
        if key not in seen:
            seen.add(key)
            yield path, size, named


def in_folder_walk(inside: Path, hidden_logs: tuple[str, ...]) -> bool:
    """Whether a folder ingest reads the file at `inside` (relative to the folder): a
    chat-log ending, and no hidden part unless it is where a format keeps its logs."""
    if inside.suffix.lower() not in WALK_SUFFIXES:
        return False
    hidden = any(part.startswith(".") for part in inside.parts)
    return not hidden or any(inside.match(pattern) for pattern in hidden_logs)


def _walk(paths: Iterable[str | Path], report: IngestReport) -> Iterator[tuple[Path, int, bool]]:
    hidden_logs = hidden_log_paths()  # .aider.chat.history.md, .specstory/history/*.md
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and in_folder_walk(child.relative_to(path), hidden_logs):
                    yield child, child.stat().st_size, False
        elif path.is_file() and is_archive(path):  # a data export, read in place
            try:
                members = chat_members(path)
            except FormatError as exc:
                report.files_failed += 1
                report.problems.append(Problem(str(path), None, _reason(exc)))
                continue
            if not members:
                report.files_failed += 1
                report.problems.append(Problem(str(path), None, "no conversations*.json inside"))
            for member, size in members:  # reads like a file: all a parser asks of a path
                yield cast(Path, member), size, True
        elif path.is_file():
            yield path, path.stat().st_size, True
        else:
            report.files_failed += 1
            report.problems.append(Problem(str(path), None, "no such file or folder"))


def stored_as_is(store: Store, tenant: str, path: Path) -> bool:
    """Whether the file, as it is now, was read before by its parser as it reads now (an
    ingest would skip it; `capture` checks before loading a model to find that out)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return _read_before(source_hash(store.db, tenant, source_key(path)), digest)


def _read_before(recorded: str | None, sha256: str) -> bool:
    """Whether these bytes were read before by the parser as it reads now: a source records
    "<sha256> <format> r<revision>", so a parser that changed how it reads (a new
    `Parser.revision`) reads its files again, and only those."""
    digest, _, reader = (recorded or "").partition(" ")
    name, _, revision = reader.partition(" r")
    parser = PARSERS.get(name)
    return digest == sha256 and parser is not None and revision == str(parser.revision)


def _not_a_chat_log(data: bytes) -> str:
    """Why a file found in a folder was skipped, with enough of it to tell a README from a
    log in a format memdistill does not read."""
    head = data[:4096]
    if not head.strip():
        return "empty file"
    if b"\x00" in head:
        return "binary file, not a chat log"
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    keys = list(dict.fromkeys(_JSON_KEY.findall(text)))[:6]
    if text.startswith(("{", "[")) and keys:
        return f"JSON in no chat-log format memdistill reads (keys: {', '.join(keys)})"
    first = text.splitlines()[0].strip()
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"no chat-log format recognises it (it starts {first!r})"


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text; is this a chat log?"
    message = str(exc)
    if isinstance(exc, MemdistillError) and isinstance(exc, FormatError) and exc.path:
        prefix = exc.path if exc.line is None else f"{exc.path}:{exc.line}"
        message = message.removeprefix(prefix + ": ")
    return message
