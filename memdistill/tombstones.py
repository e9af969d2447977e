"""What a forget left behind, applied to a conversation read again: its forgotten parts are
set apart, so ingest never stores them again and a kept copy can lose them.

`forget.py` writes two kinds of tombstone: one per exchange (by its first message's id) and
one per message. The second finds forgotten messages wherever a client sending its history
again has put them, where they may group into an exchange of another name (a re-sent
prompt after the newer ones, a system line now opening someone else's exchange).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from memdistill.exchanges import split_exchanges
from memdistill.models import Conversation, Exchange, Message
from memdistill.store.read import forgotten_exchanges, forgotten_messages


@dataclass(slots=True)
class SortedOut:
    exchanges: list[Exchange]  # what may be stored
    forgotten: list[Message]  # forgotten messages met again (for their lines in a kept copy)
    skipped: int  # exchanges, as read, that held any of them


def sort_out(db: sqlite3.Connection, tenant: str, conversation: Conversation) -> SortedOut:
    """The conversation's exchanges without anything forgotten (`conversation.source_id` is
    the id the store knows it by); the conversation loses the forgotten messages too."""
    exchanges = split_exchanges(conversation)  # also makes repeated ids unique
    gone = forgotten_exchanges(db, tenant, conversation.source_id)
    gone_messages = forgotten_messages(db, tenant, conversation.source_id)
    if not gone and not gone_messages:
        return SortedOut(exchanges, [], 0)
    in_gone = {id(m) for e in exchanges if e.source_id in gone for m in e.messages}
    forgotten = [
        m for m in conversation.messages if id(m) in in_gone or m.source_id in gone_messages
    ]  # a conversation with no exchange has messages too
    if not forgotten:
        return SortedOut(exchanges, [], 0)
    dropped = {id(m) for m in forgotten}
    skipped = sum(1 for e in exchanges if any(id(m) in dropped for m in e.messages))
    conversation.messages = [m for m in conversation.messages if id(m) not in dropped]
    left = [e for e in split_exchanges(conversation) if e.source_id not in gone]
    return SortedOut(left, forgotten, skipped)
