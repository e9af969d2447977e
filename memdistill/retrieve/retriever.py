"""Cross-layer retrieval: run a query on a mode's layers, fuse, and assemble hits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memdistill.embed.base import Embedder
from memdistill.errors import QueryError
from memdistill.index.layers import Indexes
from memdistill.models import Hit
from memdistill.retrieve.fusion import DEFAULT_FUSION, FUSIONS, Ranked, fuse
from memdistill.retrieve.modes import DEFAULT_MODE, layers_of
from memdistill.store.read import Filters, allowed_ids, hits_for
from memdistill.store.store import Store

# Each layer fetches this many times k candidates before fusion.
CANDIDATES_PER_K = 10


class Retriever:
    def __init__(self, store: Store, tenant: str, indexes: Indexes, embedder: Embedder) -> None:
        self.store = store
        self.tenant = tenant
        self.indexes = indexes
        self.embedder = embedder

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: str = DEFAULT_MODE,
        fusion: str = DEFAULT_FUSION,
        weights: Sequence[float] | None = None,
        filters: Filters | None = None,
    ) -> list[Hit]:
        layers = layers_of(mode)
        if k < 1:
            raise QueryError(f"k must be at least 1, not {k}")
        if fusion not in FUSIONS:
            raise QueryError(f"unknown fusion {fusion!r}; use one of: {', '.join(FUSIONS)}")
        if weights is not None and (fusion != "convex" or len(weights) != len(layers)):
            raise QueryError(
                f"weights go with --fusion convex, one per layer of the mode ({len(layers)} "
                f"for {mode!r}), not {len(weights)}"
            )
        if not query.strip():
            return []
        filters = filters or Filters()
        allowed = allowed_ids(self.store.db, self.tenant, filters) if filters else None
        ranked_lists = self.layer_results(query, layers, k * CANDIDATES_PER_K, allowed)
        if len(layers) == 1:
            fused = ranked_lists[layers[0]]
        else:
            fused = fuse([ranked_lists[layer] for layer in layers], fusion, weights)
        top = fused[:k]
        hits = hits_for(self.store.db, self.tenant, [doc for doc, _ in top])
        ranks = {
            layer: {doc: rank for rank, (doc, _) in enumerate(ranked, start=1)}
            for layer, ranked in ranked_lists.items()
        }
        out = []
        for doc, score in top:
            hit = hits.get(doc)
            if hit is None:  # deleted between the index read and this one
                continue
            hit.score = score
            hit.ranks = {layer: r[doc] for layer, r in ranks.items() if doc in r}
            out.append(hit)
        return out

    def layer_results(
        self, query: str, layers: Sequence[str], depth: int, allowed: np.ndarray | None
    ) -> dict[str, Ranked]:
        query_vector = None
        if any(layer.endswith("-vector") for layer in layers):
            query_vector = self.embedder.embed_query(query)
        results: dict[str, Ranked] = {}
        for layer in layers:
            text_layer, engine = layer.split("-")
            if engine == "bm25":
                results[layer] = self.indexes.search_text(text_layer, query, depth, allowed)
            else:
                assert query_vector is not None
                results[layer] = self.indexes.search_vector(
                    text_layer, query_vector, depth, allowed
                )
        return results
