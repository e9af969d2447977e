"""Forgotten exchanges taken out of the service's kept copies (`store/kept.py`) by a forget.

A kept file holds a forgotten exchange when reading it as ingest does yields an exchange
the store has a tombstone for. Every kept file of the tenant is read, not only the one the
store recorded as the exchange's source: ingest records one source per exchange, so the
same log uploaded under a second name, or a posted conversation also uploaded as a file,
would otherwise keep the text. Reading costs a parse of the tenant's kept files per
forget; forgets are rare and kept files are bounded by the upload limit.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

from memdistill.errors import MemdistillError
from memdistill.models import Message
from memdistill.sources import detect_parser, get_parser
from memdistill.store import kept
from memdistill.tombstones import sort_out

POSTED_FORMAT = "generic"  # what the service writes posted messages as


def scrub_kept(db: sqlite3.Connection, store_folder: Path, tenant: str) -> kept.KeptScrub:
    """Remove every forgotten message from the tenant's kept copies; the store's hash of
    each changed file is cleared, so sending it again as it was is read again."""
    kept.tidy(store_folder, tenant)  # a leftover of a stopped write may hold the text too
    recorded = recorded_sources(db, store_folder, tenant)
    done = kept.KeptScrub()
    for path in kept.kept_files(store_folder, tenant):
        live = str(path.resolve())
        paths, fmt = recorded.get(live, ([], None))
        changed = kept.scrub(path, forgotten_in(db, tenant, path, fmt, [live, *paths]))
        if changed.changed:
            db.execute(
                "UPDATE sources SET sha256 = '' WHERE tenant = ? AND path IN "
                "(SELECT value FROM json_each(?))",
                [tenant, json.dumps([live, *paths])],
            )
        done.add(changed)
    return done


def forgotten_in(
    db: sqlite3.Connection, tenant: str, path: Path, fmt: str | None, path_keys: list[str]
) -> list[Message]:
    """The forgotten messages a kept file holds. `path_keys` are the paths the store may
    know it by (where it is, where it was before the store moved): a conversation whose id
    was made from the file is scoped by one of them."""
    if path.parent.name == kept.POSTED:
        fmt = POSTED_FORMAT
    try:
        parser = get_parser(fmt) if fmt else detect_parser(path)
        conversations = list(parser.parse(path, lambda _problem: None))
    except (MemdistillError, UnicodeDecodeError, OSError):
        return []  # not a log ingest could read, so no exchange of the store came from it
    found: list[Message] = []
    for conversation in conversations:
        for stored_id in {conversation.stored_id(key) for key in path_keys}:
            read = replace(conversation, source_id=stored_id, messages=list(conversation.messages))
            found += sort_out(db, tenant, read).forgotten
    return found


def recorded_sources(
    db: sqlite3.Connection, store_folder: Path, tenant: str, name: str | None = None
) -> dict[str, tuple[list[str], str]]:
    """Kept file (where it is now) -> (the paths the store recorded it under, its format);
    with `name`, only the files of that name (a look-up, not a pass over every source)."""
    query, params = "SELECT path, format FROM sources WHERE tenant = ?", [tenant]
    if name is not None:
        query += " AND substr(path, -length(?)) = ?"
        params += [os.sep + name] * 2
    recorded: dict[str, tuple[list[str], str]] = {}
    for path, fmt in db.execute(query, params):
        rebased = kept.rebase(store_folder, path)
        if rebased is not None:
            paths, _ = recorded.setdefault(str(rebased), ([], fmt))
            paths.append(path)
    return recorded
