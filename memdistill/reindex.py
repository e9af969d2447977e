"""Re-embedding a whole store with another embedder (all tenants: vectors are store-wide)."""

from __future__ import annotations

import numpy as np

from memdistill.embed.base import Embedder
from memdistill.exchanges import render_verbatim
from memdistill.models import Distilled
from memdistill.store.read import messages_of
from memdistill.store.store import Store

BATCH = 256


def reembed(store: Store, embedder: Embedder, backend: str) -> int:
    """Replace every stored vector; the store records the new model only once all are done."""
    db = store.db
    with store.transaction() as tx:
        # Until the last batch is written the vectors are mixed: no embedder may use them.
        Store.set_meta(tx, "embedder", f"incomplete re-embedding to {embedder.model_id}")
    ids = [row[0] for row in db.execute("SELECT exchange_id FROM memories ORDER BY exchange_id")]
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        marks = ",".join("?" * len(chunk))
        distilled = {
            row[0]: Distilled(row[1], row[2], [], [], "").text
            for row in db.execute(
                "SELECT exchange_id, exchange_core, specific_context FROM memories "
                f"WHERE exchange_id IN ({marks})",
                chunk,
            )
        }
        messages = messages_of(db, chunk)
        verbatim_vectors = embedder.embed([render_verbatim(messages[i]) for i in chunk])
        distilled_vectors = embedder.embed([distilled[i] for i in chunk])
        with store.transaction() as tx:
            for i, vv, dv in zip(chunk, verbatim_vectors, distilled_vectors, strict=True):
                for layer, vector in (("verbatim", vv), ("distilled", dv)):
                    tx.execute(
                        "UPDATE embeddings SET vector = ? WHERE exchange_id = ? AND layer = ?",
                        [np.ascontiguousarray(vector, dtype=np.float32).tobytes(), i, layer],
                    )
    with store.transaction() as tx:
        Store.set_embedder(tx, embedder.model_id, embedder.dim, backend)
    return len(ids)
