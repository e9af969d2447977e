"""Copies of what was given to the service, kept as files under `<store>/uploads/<tenant
folder>/` and ingested from there like any log, so nothing given is lost.

- `posted/`: one generic-format JSONL file per conversation. Every line carries its message
  id (the client's, or the position the generic parser would give it), so a retried post
  is recognised and skipped, and a forget can remove lines without shifting later ids.
- `files/`: uploads, under their own (sanitised) name, so uploading a grown log again
  replaces the old copy and extends what it gave, like re-reading a log file.

A forget (`forget.py`) removes the forgotten exchanges from these copies too: it drops
their lines from posted files and deletes uploads that held them (an upload's format is
not ours to rewrite; the store keeps every other exchange of it verbatim).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memdistill.config import tenant_folder

UPLOADS = "uploads"
POSTED = "posted"
FILES = "files"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def kept_folder(store_folder: Path, tenant: str, kind: str) -> Path:
    folder = store_folder / UPLOADS / tenant_folder(tenant) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def posted_path(store_folder: Path, tenant: str, conversation_id: str) -> Path:
    name = hashlib.sha256(conversation_id.encode()).hexdigest()[:32] + ".jsonl"
    return kept_folder(store_folder, tenant, POSTED) / name


def upload_path(store_folder: Path, tenant: str, filename: str | None) -> Path:
    """Where an upload named `filename` is kept: a safe name that keeps the extension
    (format detection reads it)."""
    name = _UNSAFE.sub("_", filename or "").lstrip(".")  # no separator, no hidden file
    stem, suffix = os.path.splitext(name)
    safe = stem[:100] + suffix[:20] if stem else "upload" + suffix[:20]
    return kept_folder(store_folder, tenant, FILES) / safe


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(message id, record) per line of a posted file; the record is None for a line that
    is not a JSON object (kept as it is)."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for index, line in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                yield "", None
                continue
            given = record.get("message_id")
            conversation = record.get("conversation_id")
            yield (str(given) if given is not None else f"{conversation}:{index}"), record


@contextmanager
def posting(
    path: Path, conversation_id: str, project: str | None, messages: Iterable[Mapping[str, Any]]
) -> Iterator[int]:
    """Append `messages` ({role, content, message_id?, timestamp?}) to a posted file and
    yield how many were new; if the block fails (the ingest), the file is cut back to what
    it was, so a failed post leaves nothing behind to poison the next one."""
    existing = [message_id for message_id, _ in _records(path)]
    seen = set(existing)
    lines = []
    for position, message in enumerate(messages, len(existing)):
        message_id = message.get("message_id") or f"{conversation_id}:{position}"
        if message_id in seen:  # a retried post: already kept (and ingested)
            continue
        seen.add(message_id)
        record = {"conversation_id": conversation_id, "message_id": message_id,
                  "role": message["role"], "content": message["content"]}  # fmt: skip
        if project:
            record["project"] = project
        if message.get("timestamp"):
            record["timestamp"] = message["timestamp"]
        lines.append(_line(record))
    size = path.stat().st_size if path.exists() else 0
    with path.open("a", encoding="utf-8") as out:
        out.writelines(lines)
    try:
        yield len(lines)
    except BaseException:
        if size:
            os.truncate(path, size)
        else:
            path.unlink(missing_ok=True)
        raise


def _line(record: Mapping[str, Any]) -> str:
    # ASCII: a lone surrogate in posted text is escaped, not an encoding error (the
    # parser turns it into U+FFFD).
    return json.dumps(record) + "\n"


@dataclass
class KeptScrub:
    """What a forget did to the kept copies."""

    rewritten: list[str] = field(default_factory=list)  # posted files that lost lines
    deleted: list[str] = field(default_factory=list)  # files removed whole


def forget_in_kept(store_folder: Path, paths: Iterable[str], message_ids: set[str]) -> KeptScrub:
    """Remove the forgotten messages from the kept files among `paths` (the source files of
    the forgotten exchanges' conversations; files elsewhere are the user's own)."""
    root = (store_folder / UPLOADS).resolve()
    done = KeptScrub()
    for name in sorted(set(paths)):
        path = Path(name)
        if not path.is_relative_to(root) or not path.exists():
            continue
        if path.parent.name == POSTED and _drop_lines(path, message_ids):
            done.rewritten.append(path.name)
        elif path.exists():
            path.unlink()
            done.deleted.append(path.name)
    return done


def _drop_lines(path: Path, message_ids: set[str]) -> bool:
    """Rewrite a posted file without the forgotten messages; False when nothing of the
    conversation would be left (no prompt), for the caller to delete the file."""
    # A stored id may carry a suffix (`~2` for a repeated id, `#tool0` for a tool call).
    forgotten = message_ids | {re.split(r"[#~]", m, maxsplit=1)[0] for m in message_ids}
    kept, prompts = [], 0
    for message_id, record in _records(path):
        if record is None or message_id in forgotten:
            continue
        kept.append(_line(record))
        prompts += record.get("role") == "user"
    if not prompts:
        return False
    partial = path.with_name(f".partial-{path.name}")
    partial.write_text("".join(kept), encoding="utf-8")
    partial.replace(path)
    return True
