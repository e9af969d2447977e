"""What a distiller is: one method, exchange in, compound object out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from memdistill.errors import ConfigError
from memdistill.models import Distilled, Exchange

if TYPE_CHECKING:
    from memdistill.store.store import Store

OnEach = Callable[[Distilled], None]  # called as each memory is made (progress)


class Distiller(ABC):
    #: Recorded with every memory it makes, e.g. "offline-v1"; bump when output changes.
    name: str
    #: Exchanges per ingest batch (a commit each); a slow distiller wants smaller ones.
    batch_size: int | None = None

    @classmethod
    def create(cls, store: Store | None = None, **options: Any) -> Distiller:
        """Built by the registry; a distiller with settings or caches reads them here."""
        if options:
            raise ConfigError(f"{cls.__name__} takes no options (given: {', '.join(options)})")
        return cls()

    @abstractmethod
    def distill(self, exchange: Exchange) -> Distilled:
        """The compound object for one exchange."""

    def distill_many(
        self, exchanges: Sequence[Exchange], on_each: OnEach | None = None
    ) -> list[Distilled]:
        """Batch entry point; a distiller that can work concurrently overrides it."""
        out = []
        for exchange in exchanges:
            out.append(self.distill(exchange))
            if on_each:
                on_each(out[-1])
        return out

    def begin_run(self) -> None:
        """Called as an ingest or re-distill starts (a distiller may keep state per run)."""
        return None  # stateless by default

    def account(self) -> dict[str, Any] | None:
        """What this distiller has spent so far (LLM tokens, requests); None if nothing."""
        return None
