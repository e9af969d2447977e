"""What a distiller is: one method, exchange in, compound object out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from memdistill.models import Distilled, Exchange


class Distiller(ABC):
    #: Recorded with every memory it makes, e.g. "offline-v1"; bump when output changes.
    name: ClassVar[str]

    @abstractmethod
    def distill(self, exchange: Exchange) -> Distilled:
        """The compound object for one exchange. Deterministic for a given exchange."""

    def distill_many(self, exchanges: Sequence[Exchange]) -> list[Distilled]:
        """Batch entry point; a distiller that can work concurrently overrides it."""
        return [self.distill(exchange) for exchange in exchanges]
