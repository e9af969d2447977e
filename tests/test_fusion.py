"""Fusion methods against hand-computed cases; modes parse and refuse nonsense."""

from __future__ import annotations

import pytest

from memdistill.errors import QueryError
from memdistill.retrieve.fusion import combmnz, convex, fuse, rrf
from memdistill.retrieve.modes import CROSS_LAYER_MODES, MODES, PURE_MODES, layers_of

A = [(1, 9.0), (2, 5.0), (3, 1.0)]
B = [(3, 0.9), (1, 0.5)]


def test_rrf_by_hand() -> None:
    fused = dict(rrf([A, B]))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert [doc for doc, _ in rrf([A, B])] == [1, 3, 2]


def test_combmnz_by_hand() -> None:
    # A normalised: 1 -> 1, 2 -> 0.5, 3 -> 0; B normalised: 3 -> 1, 1 -> 0.
    fused = dict(combmnz([A, B]))
    assert fused == pytest.approx({1: (1 + 0) * 2, 2: 0.5 * 1, 3: (0 + 1) * 2})


def test_convex_by_hand_and_weights_checked() -> None:
    fused = dict(convex([A, B], [0.75, 0.25]))
    assert fused == pytest.approx({1: 0.75, 2: 0.375, 3: 0.25})
    with pytest.raises(QueryError, match="one weight per layer"):
        convex([A, B], [1.0])
    with pytest.raises(QueryError, match="non-negative"):
        convex([A, B], [0.0, 0.0])


def test_ties_are_broken_by_id_and_empty_lists_are_fine() -> None:
    assert rrf([[(5, 1.0)], [(4, 1.0)]]) == [(4, 1 / 61), (5, 1 / 61)]
    assert fuse([[], []], "combmnz") == []
    assert dict(combmnz([[(7, 3.0), (8, 3.0)]])) == {7: 1.0, 8: 1.0}
    with pytest.raises(QueryError, match="unknown fusion"):
        fuse([A], "borda")


def test_modes() -> None:
    assert len(PURE_MODES) == 5 and len(CROSS_LAYER_MODES) == 5
    assert layers_of("verbatim-bm25+distilled-vector") == ("verbatim-bm25", "distilled-vector")
    assert layers_of("distilled-hybrid") == ("distilled-bm25", "distilled-vector")
    assert len(layers_of("all")) == 4
    for mode in MODES:
        assert layers_of(mode)
    with pytest.raises(QueryError, match="unknown search mode"):
        layers_of("verbatim-bm25+magic")
