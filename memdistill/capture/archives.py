"""Data-export zips as downloaded (ChatGPT's: `conversations.json` inside): their chat
members are read in place, never unpacked to disk.

A member reads like a file (`open`, `read_bytes`, `read_text`, `name`), which is all the
parsers and format detection use; its source key is the zip's own path plus the member's
name, so the same zip ingested again is unchanged, and a newer export (another file name)
is compared exchange by exchange: only what is new is added.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import TypeGuard

from memdistill.errors import FormatError

ARCHIVE_SUFFIXES = frozenset({".zip"})
# conversations.json (ChatGPT, Claude.ai), conversations-000.json (exports split in parts).
_CHAT_MEMBER = re.compile(r"(?:^|/)conversations(?:[-_][^/]*)?\.json$", re.IGNORECASE)


def is_archive(path: Path) -> bool:
    return path.suffix.lower() in ARCHIVE_SUFFIXES


def chat_members(path: Path) -> list[tuple[zipfile.Path, int]]:
    """(member, uncompressed size) for each member of the zip that holds conversations."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [
                info
                for info in archive.infolist()
                if not info.is_dir()
                and _CHAT_MEMBER.search(info.filename)
                and not info.filename.startswith("__MACOSX/")
            ]
    except (zipfile.BadZipFile, OSError) as exc:
        raise FormatError(f"not a readable zip file ({exc})", path=str(path)) from exc
    infos.sort(key=lambda info: info.filename)
    return [(zipfile.Path(path, info.filename), info.file_size) for info in infos]


def is_member(path: object) -> TypeGuard[zipfile.Path]:
    return isinstance(path, zipfile.Path)


def archive_of(member: zipfile.Path) -> Path:
    """The zip a member is read from."""
    return Path(str(member.root.filename))


def source_key(path: Path | zipfile.Path) -> str:
    """The path a source is recorded under: a file's resolved path, a member's zip path
    resolved plus its name inside (`/home/me/Downloads/export.zip/conversations.json`)."""
    if isinstance(path, zipfile.Path):
        return f"{archive_of(path).resolve()}/{path.at}"
    return str(path.resolve())
