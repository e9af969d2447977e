"""Search modes: which layers a query runs on.

A mode is one layer, or layers joined by "+" whose results are fused. The ten modes of the
published comparison have names; any other "+" combination of layers also works.
"""

from __future__ import annotations

from typing import cast

from memdistill.errors import QueryError
from memdistill.models import LAYERS, Layer

DEFAULT_MODE = "verbatim-bm25+distilled-vector"

ALIASES: dict[str, tuple[Layer, ...]] = {
    "distilled-hybrid": ("distilled-bm25", "distilled-vector"),
    "all": LAYERS,
}

PURE_MODES = (
    "verbatim-bm25",
    "verbatim-vector",
    "distilled-bm25",
    "distilled-vector",
    "distilled-hybrid",
)
CROSS_LAYER_MODES = (
    "verbatim-bm25+distilled-vector",
    "verbatim-vector+distilled-bm25",
    "verbatim-bm25+distilled-bm25",
    "verbatim-vector+distilled-vector",
    "all",
)
MODES = PURE_MODES + CROSS_LAYER_MODES


def layers_of(mode: str) -> tuple[Layer, ...]:
    if mode in ALIASES:
        return ALIASES[mode]
    parts = [part.strip() for part in mode.split("+")]
    unknown = [part for part in parts if part not in LAYERS]
    if unknown:
        raise QueryError(
            f"unknown search mode {mode!r}; use one of: {', '.join(MODES)} "
            f"(or layers joined by '+': {', '.join(LAYERS)})"
        )
    # In the order given: convex weights are matched to layers by position.
    return tuple(dict.fromkeys(cast(Layer, part) for part in parts))
