"""Re-embedding a whole store with another embedder (all tenants: vectors are store-wide)."""

from __future__ import annotations

import numpy as np

from memdistill.embed.base import Embedder
from memdistill.store.read import changed_since
from memdistill.store.store import INCOMPLETE, Store


def reembed(store: Store, embedder: Embedder, backend: str) -> int:
    """Replace every stored vector; the store records the new model only once all are done.

    Until then the vectors are mixed, and the meta marker makes every embedder refuse the
    store with a message saying how to finish."""
    db = store.db
    with store.transaction() as tx:
        Store.set_meta(tx, "embedder", INCOMPLETE + backend)
    done = 0
    tenants = [row[0] for row in db.execute("SELECT DISTINCT tenant FROM exchanges")]
    for tenant in tenants:
        for rows in changed_since(db, tenant, 0, with_vectors=False, tombstones=False):
            verbatim = embedder.embed([r.verbatim for r in rows])
            distilled = embedder.embed([r.distilled for r in rows])
            with store.transaction() as tx:
                for row, vv, dv in zip(rows, verbatim, distilled, strict=True):
                    for layer, vector in (("verbatim", vv), ("distilled", dv)):
                        tx.execute(
                            "UPDATE embeddings SET vector = ? WHERE exchange_id = ? AND layer = ?",
                            [
                                np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
                                row.id,
                                layer,
                            ],
                        )
            done += len(rows)
    with store.transaction() as tx:
        Store.set_embedder(tx, embedder.model_id, embedder.dim, backend)
    return done
