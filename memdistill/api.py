"""The Python API an agent uses: `Memory.open(path)`, then ingest, search, drill down.

    with Memory.open("~/.memdistill") as memory:
        memory.ingest(["~/.claude/projects"])
        for hit in memory.search("why did the docker build fail", k=5):
            print(hit.memory.exchange_core, memory.drill_down(hit))

A Memory is safe to search from several threads. Models and indexes load on first use,
so opening a store to read its stats costs no model load.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from memdistill.config import DEFAULT_TENANT, check_tenant, resolve_store_path, tenant_folder
from memdistill.distill import get_distiller
from memdistill.distill.base import Distiller
from memdistill.embed import DEFAULT_EMBEDDER, get_embedder
from memdistill.embed.base import Embedder
from memdistill.errors import NotFoundError
from memdistill.exchanges import render_verbatim
from memdistill.index.layers import Indexes
from memdistill.ingest import Ingestor, IngestReport, ProgressCallback
from memdistill.models import Hit, Message
from memdistill.retrieve.fusion import DEFAULT_FUSION
from memdistill.retrieve.modes import DEFAULT_MODE
from memdistill.retrieve.retriever import Retriever
from memdistill.store import read, summary
from memdistill.store.read import Filters
from memdistill.store.store import Store
from memdistill.store.summary import RoomInfo, Stats
from memdistill.store.usage import UsageRecorder

if TYPE_CHECKING:
    from memdistill.forget import ForgetPlan, ForgetReport
    from memdistill.redistill import RedistillReport
    from memdistill.refine.apply import OnChange
    from memdistill.refine.base import RefineSettings
    from memdistill.refine.report import RefineReport
    from memdistill.store.history import HistoryEntry


class Memory:
    def __init__(
        self,
        store: Store,
        *,
        tenant: str,
        embedder: str | None,
        distiller: str,
        distiller_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.tenant = check_tenant(tenant)
        recorded = store.get_meta("embedder_backend")
        self.embedder_name = embedder or recorded or DEFAULT_EMBEDDER
        self.distiller_name = distiller
        self.distiller_options = dict(distiller_options or {})
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None
        self._distiller: Distiller | None = None
        self._indexes: Indexes | None = None
        self.usage = UsageRecorder(store, self.tenant)  # freq and utility, for refinement

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        tenant: str = DEFAULT_TENANT,
        embedder: str | None = None,
        distiller: str = "offline",
        distiller_options: Mapping[str, Any] | None = None,
        create: bool = True,
    ) -> Memory:
        """Open (or create) the store at `path`, else `MEMDISTILL_HOME`, else the user folder.

        `distiller="llm"` distils through an OpenAI-compatible model; `distiller_options`
        then holds LLMSettings fields (model, base_url, api_key_env, concurrency, ...),
        over the store's config.toml and MEMDISTILL_LLM_* variables."""
        return cls(
            Store(resolve_store_path(path), create=create),
            tenant=tenant,
            embedder=embedder,
            distiller=distiller,
            distiller_options=distiller_options,
        )

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.usage.flush()  # what was served since the last flush
        finally:
            self.store.close()

    # lazy parts ---------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            embedder = get_embedder(self.embedder_name)
            self.store.require_embedder(embedder.model_id, self.embedder_name)
            self._embedder = embedder
        return self._embedder

    @property
    def distiller(self) -> Distiller:
        if self._distiller is None:
            self._distiller = get_distiller(
                self.distiller_name, self.store, **self.distiller_options
            )
        return self._distiller

    @property
    def indexes(self) -> Indexes:
        """Loaded once, then kept in step with the store (other processes may write to it)."""
        with self._lock:
            if self._indexes is None:
                embedder = self.embedder
                self._indexes = Indexes.open(self._index_folder, embedder.model_id, embedder.dim)
            indexes = self._indexes
        if indexes.catch_up(self.store, self.tenant):
            indexes.save(wait=False)  # spare the next process the catch-up, if free to
        return indexes

    @property
    def _index_folder(self) -> Path:
        return self.store.index_folder / tenant_folder(self.tenant)

    # the API -------------------------------------------------------------------------------

    def ingest(
        self,
        paths: str | Path | Iterable[str | Path],
        *,
        format: str | None = None,
        project: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest chat-log files and folders; re-ingesting adds only what is new."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        ingestor = Ingestor(
            self.store,
            self.tenant,
            self.indexes,
            self.embedder,
            self.embedder_name,
            self.distiller,
        )
        return ingestor.run(paths, fmt=format, project=project, on_progress=on_progress)

    def distill(
        self,
        *,
        project: str | None = None,
        conversation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        file: str | None = None,
        only_fallbacks: bool = False,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RedistillReport:
        """Distil stored exchanges again with this Memory's distiller; only memories that
        change are rewritten and re-indexed. `only_fallbacks`: just those an LLM run had
        to distil offline."""
        from memdistill.redistill import redistill, select_exchanges

        filters = Filters(project, conversation, since, until, file)
        ids = select_exchanges(self.store, self.tenant, filters, only_fallbacks=only_fallbacks)
        distiller = self.distiller  # fails on bad settings before any work
        return redistill(
            self.store,
            self.tenant,
            distiller,
            self.embedder,
            self.indexes,
            ids,
            batch_size=distiller.batch_size or 128,
            on_progress=on_progress,
        )

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = DEFAULT_MODE,
        fusion: str = DEFAULT_FUSION,
        weights: Sequence[float] | None = None,
        project: str | None = None,
        conversation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        file: str | None = None,
    ) -> list[Hit]:
        """Ranked hits; each is an exchange with its memory, rooms, files and source ids.
        Each hit counts as served (`freq`), written in batches."""
        retriever = Retriever(self.store, self.tenant, self.indexes, self.embedder)
        filters = Filters(project, conversation, since, until, file)
        hits = retriever.search(
            query, k=k, mode=mode, fusion=fusion, weights=weights, filters=filters
        )
        self.usage.served(hit.exchange_id for hit in hits)
        return hits

    def feedback(self, exchange_ids: int | Iterable[int], *, useful: bool) -> int:
        """Say whether memories helped: useful ones gain `utility`, which refinement weighs
        against how often they were served. Give a task's outcome for every id the task
        was given, as ReMe does (per-hit verdicts with k=10 make pruning harsh:
        docs/refinement.md). Memories nobody gave a verdict on are never pruned."""
        ids = [exchange_ids] if isinstance(exchange_ids, int) else list(exchange_ids)
        return self.usage.feedback(ids, useful)

    def forget(
        self,
        exchange_ids: int | Iterable[int] = (),
        *,
        conversation: str | None = None,
        project: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
        confirm: Callable[[ForgetPlan], bool] | None = None,
    ) -> ForgetReport:
        """Delete exchanges for real, with everything made from them. Selectors combine
        with AND and one is required (ids raise NotFoundError unless all are this tenant's;
        so does a selection of nothing). `confirm` sees the plan and may refuse. Afterwards
        no index finds them, the store file no longer holds their text, and ingest never
        writes them back; memories merged into them or superseded by them are active again."""
        from memdistill.forget import ForgetReport, Selector, cache_limits, forget, plan_forget

        if self.store.scrub_pending():  # an earlier forget stopped before its scrub
            self.store.scrub()
        ids = (exchange_ids,) if isinstance(exchange_ids, int) else tuple(exchange_ids)
        selector = Selector(ids, conversation, project, since, until, text)
        self.usage.flush()  # no buffered count may land on a deleted (later reused) id
        plan = plan_forget(self.store.db, self.tenant, selector)
        if confirm is not None and not confirm(plan):
            return ForgetReport(confirmed=False)
        indexes = self.indexes  # loaded now, so the catch-up below is the forget alone
        limits = cache_limits(self.store.folder, self.distiller_options)
        report = forget(self.store, self.tenant, plan, limits)
        indexes.catch_up(self.store, self.tenant)  # the tombstones drop them from all four
        indexes.compact()  # BM25 postings purged, not just masked
        indexes.save(rewrite=True)
        report.indexed = len(indexes)
        return report

    def drill_down(self, hit: Hit | int) -> list[Message]:
        """The verbatim messages behind a hit (or an exchange id)."""
        exchange_id = hit.exchange_id if isinstance(hit, Hit) else int(hit)
        messages = read.messages_of(self.store.db, [exchange_id]).get(exchange_id)
        if not messages or not self._owns(exchange_id):
            raise NotFoundError(
                f"no exchange {exchange_id} in this store; search again for current ids"
            )
        return messages

    def verbatim(self, hit: Hit | int) -> str:
        """The drill-down as one text, the way the verbatim layer indexed it."""
        return render_verbatim(self.drill_down(hit))

    def get(self, exchange_id: int) -> Hit:
        hit = read.hits_for(self.store.db, self.tenant, [exchange_id]).get(exchange_id)
        if hit is None:
            raise NotFoundError(f"no exchange {exchange_id} in this store")
        return hit

    def rooms(self, project: str | None = None) -> list[RoomInfo]:
        return summary.rooms(self.store.db, self.tenant, project)

    def room(self, key: str, project: str | None = None) -> list[Hit]:
        """The exchanges of a room, oldest first."""
        ids = summary.room_exchanges(self.store.db, self.tenant, key, project)
        if not ids:
            raise NotFoundError(f"no room {key!r}; `memdistill rooms` lists the rooms")
        hits = read.hits_for(self.store.db, self.tenant, ids)
        return [hits[i] for i in ids if i in hits]

    def stats(self) -> Stats:
        return summary.stats(self.store.db, self.tenant, self.store.get_meta("embedder"))

    def reindex(self, *, embedder: str | None = None) -> int:
        """Rebuild every derived index from SQLite; with a new embedder, re-embed first."""
        from memdistill.reindex import reembed

        with self._lock:
            if embedder is not None:
                self.embedder_name = embedder
                self._embedder = get_embedder(embedder)
                if self.store.get_meta("embedder") != self._embedder.model_id:
                    reembed(self.store, self._embedder, embedder)
            self._indexes = None
            # Other tenants' indexes name the old model in their manifests: they rebuild
            # themselves when next opened.
            shutil.rmtree(self._index_folder, ignore_errors=True)
        indexes = self.indexes  # rebuilt from generation 0
        indexes.compact()
        indexes.save(rewrite=True)
        return len(indexes)

    def refine(
        self,
        settings: RefineSettings | None = None,
        *,
        dry_run: bool = False,
        project: str | None = None,
        on_change: OnChange | None = None,
    ) -> RefineReport:
        """Prune memories served often that rarely helped, merge near-duplicates, retire
        superseded decisions (`RefineSettings` holds the thresholds and which rules run;
        default: the store's `[refine]` table in config.toml, else the built-in defaults).
        Soft: they leave the indexes, keep their exchange and history, and `restore` brings
        them back. `dry_run` plans without writing."""
        from memdistill.refine import RefineSettings, plan
        from memdistill.refine.apply import apply_changes
        from memdistill.refine.candidates import load_candidates
        from memdistill.refine.report import RefineReport

        settings = (settings or RefineSettings.load(self.store.folder)).checked()
        self.usage.flush()  # judge the counters as they are
        pool = load_candidates(self.store.db, self.tenant, project)
        report = RefineReport(dry_run=dry_run, active_before=len(pool))
        report.planned = plan(pool, settings)
        if dry_run:
            return report
        indexes = self.indexes
        report.indexed_before = len(indexes)
        report.written, report.skipped = apply_changes(
            self.store, self.tenant, report.planned, on_change=on_change
        )
        indexes.catch_up(self.store, self.tenant)
        indexes.save()
        report.indexed_after = len(indexes)
        return report

    def restore(self, exchange_id: int) -> dict[str, object]:
        """Undo the prune, merge or supersede of a memory and put it back in every index."""
        from memdistill.refine.undo import restore

        detail = restore(self.store, self.tenant, exchange_id)
        indexes = self.indexes  # catches up: the memory is searchable again
        indexes.save()
        return detail

    def history(self, exchange_id: int) -> list[HistoryEntry]:
        """Every change to a memory, oldest first: created, re-distilled, feedback, pruned,
        merged, superseded, restored, forgotten."""
        from memdistill.store.history import history_of

        entries = history_of(self.store.db, self.tenant, exchange_id)
        if not entries:
            raise NotFoundError(f"no history for memory {exchange_id} in this store")
        return entries

    def _owns(self, exchange_id: int) -> bool:
        row = self.store.db.execute(
            "SELECT tenant FROM exchanges WHERE id = ?", [exchange_id]
        ).fetchone()
        return bool(row) and row[0] == self.tenant
