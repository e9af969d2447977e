"""The four derived indexes of one tenant, kept in step with the store.

Layout: a folder per tenant holds `verbatim.bm25/`, `distilled.bm25/`, `verbatim.faiss`,
`distilled.faiss` and `manifest.json`. The manifest records the store generation the
indexes reflect and how many exchanges each layer holds; the index files are written
before it, so after a crash the indexes are at least as new as the manifest says and
catching up again is harmless (every add replaces). On open, a part that is missing,
damaged, or disagrees with the manifest sends the indexes back to empty: they are rebuilt
from SQLite. Saves happen under an inter-process file lock and never go backwards: a
process that is behind what is on disk does not overwrite it.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from memdistill.errors import StoreError
from memdistill.index.bm25 import BM25Index
from memdistill.index.vectors import VectorIndex
from memdistill.store.read import IndexRow, changed_since
from memdistill.store.store import Store

MANIFEST_FORMAT = 1


class Indexes:
    def __init__(self, folder: Path, embedder_id: str, dim: int) -> None:
        self.folder = folder
        self.embedder_id = embedder_id
        self.dim = dim
        self.generation = 0
        self.bm25 = {"verbatim": BM25Index(), "distilled": BM25Index()}
        self.vectors = {"verbatim": VectorIndex(dim), "distilled": VectorIndex(dim)}
        self._lock = threading.Lock()  # one writer; searches read swapped-in snapshots

    @classmethod
    def open(cls, folder: Path, embedder_id: str, dim: int) -> Indexes:
        """Load what is on disk; anything stale, damaged or of another model starts empty."""
        indexes = cls(folder, embedder_id, dim)
        manifest = indexes._read_manifest()
        if manifest is None:
            return indexes
        try:
            for layer in ("verbatim", "distilled"):
                indexes.bm25[layer], meta = BM25Index.load(folder / f"{layer}.bm25")
                indexes.vectors[layer] = VectorIndex.load(folder / f"{layer}.faiss", dim)
                if meta.get("generation", -1) < manifest["generation"]:
                    raise StoreError(f"{layer}.bm25 is older than the manifest")
        except StoreError:
            return cls(folder, embedder_id, dim)  # derived data: rebuild from the store
        if manifest.get("counts") != indexes.counts():
            return cls(folder, embedder_id, dim)  # a part was lost or is from another save
        indexes.generation = int(manifest["generation"])
        return indexes

    def counts(self) -> dict[str, int]:
        return {
            **{f"{layer}-bm25": len(index) for layer, index in self.bm25.items()},
            **{f"{layer}-vector": len(index) for layer, index in self.vectors.items()},
        }

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            manifest = json.loads((self.folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
        if (
            not isinstance(manifest, dict)
            or manifest.get("format") != MANIFEST_FORMAT
            or manifest.get("embedder") != self.embedder_id
            or not isinstance(manifest.get("generation"), int)
        ):
            return None
        return manifest

    def catch_up(self, store: Store, tenant: str) -> int:
        """Apply every change committed after our generation; returns how many rows changed."""
        target = store.generation()
        if target <= self.generation:
            return 0
        with self._lock:
            if target <= self.generation:
                return 0
            changed = 0
            forgotten = False
            for rows in changed_since(store.db, tenant, self.generation):
                self.apply(rows)
                changed += len(rows)
                forgotten = forgotten or any(r.forgotten for r in rows)
            if forgotten:  # a forget's postings go, here too, not just behind a mask
                for index in self.bm25.values():
                    index.merge(max_segments=1)
            self.generation = target
            return changed

    def apply(self, rows: list[IndexRow]) -> None:
        """Remove inactive rows, add or replace active ones, in all four indexes."""
        gone = [r.id for r in rows if not r.active]
        live = [r for r in rows if r.active]
        for layer in ("verbatim", "distilled"):
            bm25 = self.bm25[layer]
            if gone:
                bm25.remove(gone)
            if live:
                texts = [r.verbatim if layer == "verbatim" else r.distilled for r in live]
                bm25.add([r.id for r in live], texts)
            pairs = [
                (r.id, v)
                for r in live
                if (v := r.verbatim_vector if layer == "verbatim" else r.distilled_vector)
                is not None
            ]
            matrix = (
                np.vstack([v for _, v in pairs]) if pairs else np.zeros((0, self.dim), np.float32)
            )
            self.vectors[layer].update(gone, [i for i, _ in pairs], matrix)

    def save(self, *, wait: bool = True, rewrite: bool = False) -> bool:
        """Write the indexes, unless the files on disk are already this new (newer, with
        `rewrite`: a compaction changes files, not the generation). With `wait=False` (a
        search that caught up), give up at once if another process is saving. Returns
        whether this call wrote them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / ".lock", timeout=-1 if wait else 0)
        try:
            with lock, self._lock:
                on_disk = self._read_manifest()
                if on_disk is not None and (
                    on_disk["generation"] > self.generation
                    or (on_disk["generation"] == self.generation and not rewrite)
                ):
                    return False
                for layer in ("verbatim", "distilled"):
                    meta = {"generation": self.generation}
                    self.bm25[layer].save(self.folder / f"{layer}.bm25", meta)
                    self.vectors[layer].save(self.folder / f"{layer}.faiss")
                manifest = {
                    "format": MANIFEST_FORMAT,
                    "generation": self.generation,
                    "embedder": self.embedder_id,
                    "dim": self.dim,
                    "counts": self.counts(),
                }
                tmp = self.folder / "manifest.json.tmp"
                tmp.write_text(json.dumps(manifest, indent=2))
                os.replace(tmp, self.folder / "manifest.json")
                return True
        except Timeout:
            return False

    def compact(self) -> None:
        """One BM25 segment per layer, deleted documents purged: what a rebuild leaves."""
        with self._lock:
            for index in self.bm25.values():
                index.merge(max_segments=1)

    def search_text(
        self, layer: str, query: str, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        return self.bm25[layer].search(query, k, allowed)

    def search_vector(
        self, layer: str, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        return self.vectors[layer].search(query, k, allowed)

    def __len__(self) -> int:
        return len(self.vectors["distilled"])
