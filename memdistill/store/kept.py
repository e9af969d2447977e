"""Copies of what was given to the service, kept as files under `<store>/uploads/<tenant
folder>/` and ingested from there like any log.

- `posted/`: one generic-format JSONL file per conversation. Every line carries its message
  id (the client's, else a fresh random one, never reused), so a retried post with ids is
  recognised and skipped, and a forget can remove lines without changing other lines' ids.
- `files/`: uploads, under their own name (made safe), so uploading a grown log again
  replaces the old copy and adds only what is new, like re-reading a log file. A new copy
  whose ingest fails gives the old one back.

Forgotten exchanges never stay in a kept copy: a forget (`forget.py`) and an ingest that
meets a tombstoned exchange in a kept file (a re-post, a re-upload) both call
`forget_in_kept`, which drops their lines from posted files and deletes uploads that held
them (an upload's format is not ours to rewrite; the store keeps every other exchange of
it verbatim).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memdistill.config import tenant_folder

UPLOADS = "uploads"
POSTED = "posted"
FILES = "files"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# What the parsers add to a message id: `#tool0` for a tool call, `~2` for a repeated id.
_PARSER_SUFFIX = re.compile(r"(#tool\d+)?(~\d+)?$")


def kept_folder(store_folder: Path, tenant: str, kind: str) -> Path:
    folder = store_folder / UPLOADS / tenant_folder(tenant) / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def posted_path(store_folder: Path, tenant: str, conversation_id: str) -> Path:
    name = hashlib.sha256(conversation_id.encode()).hexdigest()[:32] + ".jsonl"
    return kept_folder(store_folder, tenant, POSTED) / name


def upload_path(store_folder: Path, tenant: str, filename: str | None) -> Path:
    """Where an upload named `filename` is kept: a safe name that keeps the extension
    (format detection reads it). Names that had to change get a hash of the original, so
    two names never become one (会話.jsonl and メモ.jsonl are both `__.jsonl` otherwise)."""
    original = filename or ""
    stem, dot, ext = _UNSAFE.sub("_", original).rpartition(".")
    if not dot:
        stem, ext = ext, ""
    stem = stem.lstrip(".")  # no hidden file, no `..`
    suffix = f".{ext[:20]}" if ext else ""
    safe = (stem or "upload")[:100] + suffix
    if safe != original:
        safe = f"{(stem or 'upload')[:100]}-{hashlib.sha256(original.encode()).hexdigest()[:8]}"
        safe += suffix
    return kept_folder(store_folder, tenant, FILES) / safe


def _records(path: Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(message id, record) per line of a posted file; the record is None for a line that
    is not a JSON object."""
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
    yield how many were new; if the block fails (the ingest), they are taken back out, so
    a failed post leaves nothing behind to poison the next one."""
    seen = {message_id for message_id, _ in _records(path)}
    lines, added = [], set()
    for message in messages:
        message_id = message.get("message_id") or f"{conversation_id}:{secrets.token_hex(8)}"
        if message_id in seen:  # a retried post: already kept (and ingested)
            continue
        seen.add(message_id)
        added.add(message_id)
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
    appended = path.stat().st_size
    try:
        yield len(lines)
    except BaseException:
        if path.exists() and path.stat().st_size == appended:
            os.truncate(path, size)  # the usual case: nobody touched the file since
        else:  # another process (a forget) rewrote it meanwhile: take ours out by id
            _rewrite(path, lambda message_id, _: message_id not in added)
        if path.exists() and path.stat().st_size == 0:
            path.unlink()
        raise


@contextmanager
def upload_in_place(partial: Path, path: Path) -> Iterator[Callable[[], None]]:
    """Put a new upload where the copy kept under its name was; the block gets an `undo`
    to call when the new copy would not ingest. On `undo` or an exception the old copy
    comes back (or, with none, the new one goes)."""
    backup = path.with_name(f".previous-{path.name}")
    had_one = path.exists()
    if had_one:
        path.replace(backup)
    partial.replace(path)
    undone = False

    def undo() -> None:
        nonlocal undone
        undone = True

    try:
        yield undo
    except BaseException:
        undone = True
        raise
    finally:
        if undone and had_one:
            backup.replace(path)
        elif undone:
            path.unlink(missing_ok=True)
        else:
            backup.unlink(missing_ok=True)


def _line(record: Mapping[str, Any]) -> str:
    # ASCII: a lone surrogate in posted text is escaped, not an encoding error (the
    # parser turns it into U+FFFD).
    return json.dumps(record) + "\n"


@dataclass
class KeptScrub:
    """What removing forgotten exchanges did to the kept copies."""

    rewritten: list[str] = field(default_factory=list)  # posted files that lost lines
    deleted: list[str] = field(default_factory=list)  # files removed whole
    sources: list[str] = field(default_factory=list)  # their paths as the store recorded them


def forget_in_kept(store_folder: Path, paths: Iterable[str], message_ids: set[str]) -> KeptScrub:
    """Remove the forgotten messages from the kept files among `paths` (source files of
    the forgotten exchanges' conversations, as the store recorded them; files outside
    `<store>/uploads/` are the user's own and left alone)."""
    root = (store_folder / UPLOADS).resolve()
    forgotten = message_ids | {_PARSER_SUFFIX.sub("", m) for m in message_ids}
    done = KeptScrub()
    find = _kept_file(root)
    for recorded in sorted(set(paths)):
        path = find(recorded)
        if path is None:
            continue
        if path.parent.name == POSTED and _drop_lines(path, forgotten):
            done.rewritten.append(path.name)
        elif path.exists():
            path.unlink()
            done.deleted.append(path.name)
        done.sources.append(recorded)
    return done


def _kept_file(root: Path) -> Callable[[str], Path | None]:
    """The kept file a recorded source path names, also when the store folder has moved
    since it was recorded (the path is then rebased onto the store's folder)."""

    def find(recorded: str) -> Path | None:
        path = Path(recorded)
        if path.is_relative_to(root):
            return path if path.exists() else None
        parts = path.parts
        if UPLOADS not in parts:
            return None
        last = len(parts) - 1 - parts[::-1].index(UPLOADS)
        rebased = root.joinpath(*parts[last + 1 :])
        return rebased if len(parts) - last == 4 and rebased.exists() else None

    return find


def _drop_lines(path: Path, forgotten: set[str]) -> bool:
    """Rewrite a posted file without the forgotten messages; False when nothing of the
    conversation would be left (no prompt), for the caller to delete the file."""
    prompts = _rewrite(path, lambda message_id, _: message_id not in forgotten)
    return prompts > 0


def _rewrite(path: Path, keep: Callable[[str, dict[str, Any]], bool]) -> int:
    """Rewrite a posted file with the lines `keep` accepts (atomically); returns how many
    of them are prompts."""
    lines, prompts = [], 0
    for message_id, record in _records(path):
        if record is None or not keep(message_id, record):
            continue
        lines.append(_line(record))
        prompts += record.get("role") == "user"
    partial = path.with_name(f".partial-{path.name}")
    partial.write_text("".join(lines), encoding="utf-8")
    partial.replace(path)
    return prompts
