"""TREC docids of exchanges, unique within a store.

An exchange's docid is its first source message id ("message" scheme): what labels name,
and readable. Message ids are unique only within a conversation, though; when a corpus
reuses them across conversations (generic files numbering "m1", "m2" in each), every
docid is prefixed with its conversation's external id instead ("conversation/message"
scheme: `f"{conversation}/{message}"`), for the whole store, so docids stay unique and
stable from one run to the next. TREC ids cannot hold whitespace: it becomes "_".
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from memdistill.errors import ConfigError
from memdistill.models import Hit
from memdistill.store.store import Store

Scheme = Literal["message", "conversation/message"]
_SPACE = re.compile(r"\s")


def docid(source_id: str) -> str:
    """TREC ids cannot hold whitespace."""
    return _SPACE.sub("_", source_id)


SCHEMES: tuple[Scheme, ...] = ("message", "conversation/message")


def make_docid(scheme: Scheme, conversation: str, first_message: str) -> str:
    """An exchange's docid from its conversation's and its first message's ids."""
    return docid(first_message if scheme == "message" else f"{conversation}/{first_message}")


@dataclass(frozen=True, slots=True)
class Docids:
    scheme: Scheme
    of_row: dict[int, str]  # exchange row id -> docid
    row_of: dict[str, int]  # docid -> exchange row id

    def of_hit(self, hit: Hit) -> str:
        """A search hit's docid. An exchange added since the docids were assigned (another
        process ingesting into a store given explicitly) gets one by the same scheme."""
        known = self.of_row.get(hit.exchange_id)
        if known is not None:
            return known
        return make_docid(self.scheme, hit.conversation_id, hit.source_message_ids[0])


def assign(exchanges: Iterable[tuple[int, str, str]]) -> Docids:
    """Docids for (exchange row id, conversation external id, first message id) rows:
    the plain message ids when they are unique, else conversation/message for every row."""
    rows = list(exchanges)
    of_row: dict[int, str] = {}
    for scheme in SCHEMES:
        of_row = {row: make_docid(scheme, conversation, first) for row, conversation, first in rows}
        row_of = {doc: row for row, doc in of_row.items()}
        if len(row_of) == len(of_row):
            return Docids(scheme, of_row, row_of)
    # Still colliding: ids that differ only in whitespace, or "a/b" + "c" and "a" + "b/c".
    doc, _ = Counter(of_row.values()).most_common(1)[0]
    clashing = [(c, m) for row, c, m in rows if of_row[row] == doc]
    raise ConfigError(
        f"the exchanges starting at (conversation, message) {clashing[:3]} all get the docid "
        f"{doc!r}, even with their conversation ids: give the corpus distinct ids"
    )


def store_docids(store: Store, tenant: str) -> Docids:
    """The docids of every exchange of the tenant's store."""
    return assign(
        (int(row), str(conversation), str(first))
        for row, conversation, first in store.db.execute(
            "SELECT e.id, c.external_id, e.external_id FROM exchanges e "
            "JOIN conversations c ON c.id = e.conversation_id WHERE e.tenant = ? ORDER BY e.id",
            [tenant],
        )
    )
