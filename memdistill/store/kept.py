"""Copies of what was given to the service, kept as files under `<store>/uploads/<tenant
folder>/` and ingested from there like any log.

- `posted/`: one generic-format JSONL file per conversation. Every line carries its message
  id (the client's, else a fresh random one, never reused), so a retried post with ids is
  recognised and skipped, and a forget can remove lines without changing other lines' ids.
- `files/`: uploads, under their own name (made safe), so uploading a grown log again
  replaces the old copy and adds only what is new, like re-reading a log file. A new copy
  whose ingest fails gives the old one back.

Forgotten messages never stay in a kept copy: a forget reads every kept copy of the
tenant for them (`kept_scrub.py`, so a log uploaded twice under two names loses both), a
post never appends one again, and an ingest that meets one in a kept file (a re-upload)
does the same for that file; both call `scrub`, which drops their lines from posted files
and deletes uploads that held them (an upload's format is not ours to rewrite; the store keeps
every other exchange of it verbatim). A server stopped mid-write leaves `.partial-` and
`.previous-` files; `tidy` clears them at start and before every forget.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memdistill.config import tenant_folder
from memdistill.models import Message

UPLOADS = "uploads"
POSTED = "posted"
FILES = "files"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
# Leftovers of a write in progress (or of a server stopped during one).
_LEFTOVER, _PARTIAL, _PREVIOUS = ".", ".partial-", ".previous-"


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


def _records(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | None]]:
    """(1-based line, message id, record) per line of a posted file, numbered as the
    parser numbers them; the record is None for a line that is not a JSON object."""
    if not path.exists():
        return
    for line, text in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            yield line, "", None
            continue
        given = record.get("message_id")
        yield line, str(given) if given is not None else f":{line}", record


@contextmanager
def posting(
    path: Path,
    conversation_id: str,
    project: str | None,
    messages: Iterable[Mapping[str, Any]],
    forgotten: Collection[str] = frozenset(),
) -> Iterator[int]:
    """Append `messages` ({role, content, message_id?, timestamp?}) to a posted file and
    yield how many were new; if the block fails (the ingest), they are taken back out, so
    a failed post leaves nothing behind to poison the next one. Messages whose id is
    `forgotten` (a client sending its history again after a forget) are never appended."""
    seen = {message_id for _, message_id, _ in _records(path)} | set(forgotten)
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
    if not lines and not path.exists():  # nothing new, nothing kept: no empty file either
        yield 0
        return
    size = path.stat().st_size if path.exists() else 0
    with path.open("a", encoding="utf-8") as out:
        out.writelines(lines)
    appended = path.stat().st_size
    try:
        yield len(lines)
    except BaseException:  # any exit, Ctrl-C too, takes the lines back out; then re-raised
        if path.exists() and path.stat().st_size == appended:
            os.truncate(path, size)  # the usual case: nobody touched the file since
        else:  # another process (a forget) rewrote it meanwhile: take ours out by id
            _rewrite(path, lambda _line, message_id: message_id not in added)
        if path.exists() and path.stat().st_size == 0:
            path.unlink()
        raise


@contextmanager
def upload_in_place(partial: Path, path: Path) -> Iterator[Callable[[], None]]:
    """Put a new upload where the copy kept under its name was; the block gets an `undo`
    to call when the new copy would not ingest. On `undo` or an exception the old copy
    comes back (or, with none, the new one goes)."""
    backup = path.with_name(f"{_PREVIOUS}{path.name}")
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
    except BaseException:  # any exit, Ctrl-C too, gives the old copy back; then re-raised
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

    @property
    def changed(self) -> bool:
        return bool(self.rewritten or self.deleted)

    def add(self, other: KeptScrub) -> None:
        self.rewritten += other.rewritten
        self.deleted += other.deleted


def scrub(path: Path, forgotten: Sequence[Message]) -> KeptScrub:
    """Remove forgotten messages, as parsed from a kept file, from it: a posted file loses
    their lines (by number, as the parser counted them; ids can repeat or be rewritten),
    and goes when no line is left; an upload goes whole."""
    done = KeptScrub()
    if not forgotten or not path.exists():
        return done
    lines = {m.line for m in forgotten}
    if path.parent.name == POSTED and _rewrite(path, lambda line, _id: line not in lines):
        done.rewritten.append(path.name)
    else:
        path.unlink(missing_ok=True)
        done.deleted.append(path.name)
    return done


def kept_kind(store_folder: Path, tenant: str, path: Path) -> str | None:
    """POSTED or FILES when `path` is one of this tenant's kept copies in this store."""
    folder = (store_folder / UPLOADS / tenant_folder(tenant)).resolve()
    resolved = path.resolve()
    kind = resolved.parent.name
    if kind in (POSTED, FILES) and resolved.parent.parent == folder:
        return kind
    return None


def kept_files(store_folder: Path, tenant: str) -> list[Path]:
    """This tenant's kept copies (leftovers of an interrupted write are not among them:
    `tidy` first)."""
    folder = store_folder / UPLOADS / tenant_folder(tenant)
    return sorted(
        path
        for kind in (POSTED, FILES)
        for path in (folder / kind).glob("*")
        if path.is_file() and not path.name.startswith(_LEFTOVER)
    )


def tidy(store_folder: Path, tenant: str | None = None) -> list[Path]:
    """Clear what a server stopped mid-write left (for one tenant, or all): an upload's old
    copy comes back if the new one is missing, else goes; half-written files go. Run where
    no write is under way (at server start, under the tenant's write lock), so none of them
    can hold forgotten text for long. Returns what was removed."""
    root = store_folder / UPLOADS
    pattern = f"{tenant_folder(tenant)}/*/.*" if tenant is not None else "*/*/.*"
    removed = []
    for path in sorted(root.glob(pattern)):
        if not path.is_file():
            continue
        if path.name.startswith(_PREVIOUS):
            target = path.with_name(path.name.removeprefix(_PREVIOUS))
            if not target.exists():
                path.replace(target)
                continue
        elif not path.name.startswith(_PARTIAL):
            continue
        path.unlink()
        removed.append(path)
    return removed


def rebase(store_folder: Path, recorded: str) -> Path | None:
    """The kept file a recorded source path names, also when the store folder has moved
    since it was recorded; None for a file that is not a kept copy (the user's own)."""
    root = (store_folder / UPLOADS).resolve()
    path = Path(recorded)
    if path.is_relative_to(root):
        return path
    parts = path.parts  # .../uploads/<tenant folder>/<kind>/<name>
    if len(parts) < 4 or parts[-4] != UPLOADS or parts[-2] not in (POSTED, FILES):
        return None
    return root.joinpath(*parts[-3:])


def _rewrite(path: Path, keep: Callable[[int, str], bool]) -> bool:
    """Rewrite a posted file with the lines `keep` accepts, given (1-based line, message
    id), atomically; with none left the file goes. False when it went."""
    lines = [_line(record) for line, message_id, record in _records(path)
             if record is not None and keep(line, message_id)]  # fmt: skip
    if not lines:
        path.unlink(missing_ok=True)
        return False
    partial = path.with_name(f"{_PARTIAL}{path.name}")
    partial.write_text("".join(lines), encoding="utf-8")
    partial.replace(path)
    return True
