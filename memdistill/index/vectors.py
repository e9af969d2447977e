"""The FAISS layer: exact inner-product search over unit vectors, ids = SQLite row ids.

Writers never touch the index a search may be using: they change a clone and swap it in,
so searches from several threads need no lock.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from memdistill.errors import StoreError

_configured = False


def _faiss() -> Any:
    global _configured
    import faiss

    if not _configured:
        # One query is one small matrix product: OpenMP threads cost more than they give
        # (measured 1.8 ms vs 0.9 ms p50 at 14,000 x 384 on 2 cores).
        faiss.omp_set_num_threads(1)
        _configured = True
    return faiss


class VectorIndex:
    def __init__(self, dim: int, index: Any | None = None) -> None:
        self.dim = dim
        faiss = _faiss()
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @classmethod
    def load(cls, path: Path, dim: int) -> VectorIndex:
        if not path.exists():
            return cls(dim)
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise StoreError(
                f"the vector index {path} is damaged ({exc}); run `memdistill reindex`"
            ) from exc
        if index.d != dim:
            raise StoreError(
                f"the vector index {path} holds {index.d}-d vectors, not {dim}-d; "
                "run `memdistill reindex`"
            )
        return cls(dim, index)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        _faiss().write_index(self._index, str(tmp))
        os.replace(tmp, path)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def update(self, remove: Sequence[int], ids: Sequence[int], vectors: np.ndarray) -> None:
        """Remove `remove`, then add (id, vector) pairs, replacing any live copy of an id."""
        faiss = _faiss()
        index = faiss.clone_index(self._index)
        dropped = np.unique(np.asarray([*remove, *ids], dtype=np.int64))
        if len(dropped) and index.ntotal:
            index.remove_ids(faiss.IDSelectorBatch(dropped))
        if len(ids):
            matrix = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
            index.add_with_ids(matrix, np.asarray(ids, dtype=np.int64))
        self._index = index

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        index = self._index
        if index.ntotal == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        faiss = _faiss()
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
        k = min(k, index.ntotal)
        vector = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        scores, ids = index.search(vector, k, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
