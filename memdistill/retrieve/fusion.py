"""Fusing ranked lists from several layers into one.

Hand-written on purpose: each method is a few lines, and the libraries that offer them
(ranx) import numba, which would cost the search path more than a second at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

from memdistill.errors import QueryError

Ranked = list[tuple[int, float]]  # (id, score), best first

RRF_K = 60
FUSIONS = ("rrf", "combmnz", "convex")
# CombMNZ, as in the published work, rather than RRF: the evaluation harness measured it
# ahead for the default cross-layer mode on both corpora we have (docs/evaluation.md).
DEFAULT_FUSION = "combmnz"


def fuse(
    lists: Sequence[Ranked], method: str = DEFAULT_FUSION, weights: Sequence[float] | None = None
) -> Ranked:
    if method == "rrf":
        return rrf(lists)
    if method == "combmnz":
        return combmnz(lists)
    if method == "convex":
        return convex(lists, weights)
    raise QueryError(f"unknown fusion {method!r}; use one of: {', '.join(FUSIONS)}")


def rrf(lists: Sequence[Ranked], k: int = RRF_K) -> Ranked:
    """Reciprocal rank fusion (Cormack et al. 2009): sum of 1 / (k + rank)."""
    scores: dict[int, float] = {}
    for ranked in lists:
        for rank, (doc, _) in enumerate(ranked, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return _sorted(scores)


def combmnz(lists: Sequence[Ranked]) -> Ranked:
    """CombMNZ (Fox & Shaw 1994): min-max normalised scores summed, times how many lists hit."""
    sums: dict[int, float] = {}
    hits: dict[int, int] = {}
    for ranked in lists:
        for doc, score in _minmax(ranked):
            sums[doc] = sums.get(doc, 0.0) + score
            hits[doc] = hits.get(doc, 0) + 1
    return _sorted({doc: total * hits[doc] for doc, total in sums.items()})


def convex(lists: Sequence[Ranked], weights: Sequence[float] | None = None) -> Ranked:
    """A weighted sum of min-max normalised scores; equal weights by default."""
    if weights is None:
        weights = [1.0 / len(lists)] * len(lists) if lists else []
    if len(weights) != len(lists):
        raise QueryError(
            f"convex fusion needs one weight per layer: got {len(weights)} weights "
            f"for {len(lists)} layers"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise QueryError("convex fusion weights must be non-negative and not all zero")
    total = sum(weights)
    scores: dict[int, float] = {}
    for ranked, weight in zip(lists, weights, strict=True):
        for doc, score in _minmax(ranked):
            scores[doc] = scores.get(doc, 0.0) + weight / total * score
    return _sorted(scores)


def _minmax(ranked: Ranked) -> Ranked:
    if not ranked:
        return []
    values = [s for _, s in ranked]
    low, high = min(values), max(values)
    if high == low:
        return [(doc, 1.0) for doc, _ in ranked]
    return [(doc, (s - low) / (high - low)) for doc, s in ranked]


def _sorted(scores: dict[int, float]) -> Ranked:
    # Ties broken by id so results are deterministic.
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
