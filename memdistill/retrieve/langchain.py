"""A LangChain retriever over a memdistill store (the `langchain` extra).

    from memdistill.retrieve.langchain import MemdistillRetriever

    retriever = MemdistillRetriever(store="~/.memdistill", k=5, project="tidewater")
    docs = retriever.invoke("why was the database locked")

Only this module imports langchain-core: `memdistill` and `memdistill.api` never do, so
the library works without it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from memdistill.errors import DependencyError

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from pydantic import ConfigDict, Field, PrivateAttr, model_validator
except ImportError as exc:  # the retriever is optional; say how to turn it on
    raise DependencyError(
        f"the LangChain retriever needs {exc.name}: pip install 'memdistill[langchain]'"
    ) from exc

from memdistill.api import Memory
from memdistill.config import DEFAULT_TENANT
from memdistill.errors import ConfigError, NotFoundError, QueryError
from memdistill.models import Hit
from memdistill.retrieve.fusion import DEFAULT_FUSION, FUSIONS
from memdistill.retrieve.modes import DEFAULT_MODE, layers_of


class MemdistillRetriever(BaseRetriever):
    """Distilled memories as `Document`s: `page_content` is the distilled text
    (exchange_core + specific_context), `metadata` the ids, score, per-layer ranks,
    project, conversation, start time (ISO), room keys, file paths, refinement links and
    distiller.

    Give a `memory` (a `Memory` you opened and close), or a `store` path and `tenant`
    (opened here; `close()` the retriever, or use it in `with`, to write usage counters).
    Every search goes through `Memory.search`, so the hits count as served.

    The verbatim exchange is not the page_content: distillation is the point (a memory is
    ~50 words, an exchange with its tool output can be thousands of tokens, and a prompt
    has room for many memories but few exchanges). `include_verbatim=True` puts it in
    `metadata["verbatim"]` for a chain that needs the exact text.
    """

    # A misspelt filter (`projet=`) must fail, not silently widen the search.
    model_config = ConfigDict(extra="forbid")

    memory: Memory | None = None
    store: str | Path | None = None
    tenant: str | None = None
    k: int = Field(default=10, ge=1)
    mode: str = DEFAULT_MODE
    fusion: str = DEFAULT_FUSION
    weights: list[float] | None = None
    project: str | None = None
    conversation: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    file: str | None = None
    include_verbatim: bool = False
    _owns_memory: bool = PrivateAttr(default=False)

    @model_validator(mode="after")
    def _open(self) -> MemdistillRetriever:
        # A retriever is built when a chain is; a bad mode should fail there, not at the
        # first question. (QueryError is no ValueError, so pydantic lets it through.)
        layers_of(self.mode)
        if self.fusion not in FUSIONS:
            raise QueryError(f"unknown fusion {self.fusion!r}; use one of: {', '.join(FUSIONS)}")
        if self.memory is None:
            self.memory = Memory.open(self.store, tenant=self.tenant or DEFAULT_TENANT)
            self._owns_memory = True
        elif self.store is not None or self.tenant not in (None, self.memory.tenant):
            raise ConfigError("give MemdistillRetriever a memory, or a store and tenant; not both")
        return self

    # No async override: langchain-core's default runs this in an executor, which suits a
    # search (CPU and SQLite work, no I/O to await), and a Memory is safe across threads.
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        memory = self._memory
        hits = memory.search(
            query,
            k=self.k,
            mode=self.mode,
            fusion=self.fusion,
            weights=self.weights,
            project=self.project,
            conversation=self.conversation,
            since=self.since,
            until=self.until,
            file=self.file,
        )
        documents = []
        for hit in hits:
            document = to_document(hit)
            if self.include_verbatim:
                try:
                    document.metadata["verbatim"] = memory.verbatim(hit)
                except NotFoundError:  # forgotten since the search: as the search would
                    continue
            documents.append(document)
        return documents

    def feedback(self, documents: Iterable[Document], *, useful: bool) -> int:
        """Say whether the documents a task was given helped (`Memory.feedback`)."""
        return self._memory.feedback(
            [int(d.metadata["exchange_id"]) for d in documents], useful=useful
        )

    def close(self) -> None:
        """Close the Memory if this retriever opened it (flushing the usage counters)."""
        if self._owns_memory:
            self._memory.close()

    def __enter__(self) -> MemdistillRetriever:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def _memory(self) -> Memory:
        assert self.memory is not None  # set by the validator
        return self.memory


def to_document(hit: Hit) -> Document:
    metadata: dict[str, Any] = {
        "exchange_id": hit.exchange_id,
        "score": hit.score,
        "ranks": dict(hit.ranks),
        "project": hit.project,
        "conversation_id": hit.conversation_id,
        "started_at": hit.started_at.isoformat() if hit.started_at else None,
        "rooms": [room.key for room in hit.rooms],
        "files": [touch.path for touch in hit.files],
        "supersedes": list(hit.supersedes),
        "merged": list(hit.merged),
        "source_message_ids": list(hit.source_message_ids),
        "distiller": hit.memory.distiller,
    }
    return Document(page_content=hit.memory.text, metadata=metadata, id=str(hit.exchange_id))
