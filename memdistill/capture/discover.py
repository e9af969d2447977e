"""Finding chat logs where agents leave them, from what the parser registry says:

- each parser's `default_folders` (``~/.claude/projects``, ``~/.codex/sessions``, ...);
- each parser's `hidden_paths` (Aider's ``.aider.chat.history.md``, SpecStory's
  ``.specstory/history/*.md``) in the projects under the roots a person names (flags or
  ``[capture] roots``), a few levels deep;
- data-export zips in the downloads folder whose conversations member a parser
  recognises (ChatGPT's), oldest first, so a newer export's version of a conversation is
  read last.

A new format registered with its folders or project files is found with no change here.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from memdistill.capture.archives import chat_members
from memdistill.capture.settings import expand
from memdistill.errors import FormatError
from memdistill.sources import PARSERS, detect_parser

# How far below a project root per-project logs are looked for (root/org/project/...).
MAX_DEPTH = 4
# Folders never worth walking into for a project's logs.
_PRUNED = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "target"})


@dataclass
class Found:
    """Logs of one format in one place, and what to hand to ingest for them."""

    format: str
    kind: str  # "agent" (a default folder), "project" (under a root), "export" (zips)
    where: Path  # the folder looked in
    paths: list[Path]  # folders (walked by ingest) or files
    files: int
    bytes: int

    @property
    def label(self) -> str:
        return f"{self.format} ({self.where})"


@dataclass
class Looked:
    """A place looked in, and what was there (for the message when nothing is found)."""

    what: str
    where: str
    result: str


@dataclass
class Discovery:
    found: list[Found] = field(default_factory=list)
    looked: list[Looked] = field(default_factory=list)


def discover(
    roots: Sequence[Path] = (), export_folders: Sequence[Path] = (), *, agents: bool = True
) -> Discovery:
    """What is where: the agents' folders (unless `agents` is False), per-project logs
    under `roots`, export zips in `export_folders`."""
    discovery = Discovery()
    if agents:
        _default_folders(discovery)
    _project_files(discovery, roots)
    _exports(discovery, export_folders)
    return discovery


def agent_folders() -> list[tuple[str, Path]]:
    """(format, folder) for every parser's default folders, expanded, each folder once."""
    first: dict[Path, str] = {}
    for name, parser in PARSERS.items():
        for folder in parser.default_folders:
            first.setdefault(expand(folder), name)
    return [(name, folder) for folder, name in first.items()]


def _default_folders(discovery: Discovery) -> None:
    for name, folder in agent_folders():
        if not folder.is_dir():
            discovery.looked.append(Looked(name, str(folder), "absent"))
            continue
        files = list(candidate_files(folder))
        if not files:
            discovery.looked.append(Looked(name, str(folder), "no log files"))
            continue
        size = sum(f.stat().st_size for f in files)
        discovery.found.append(Found(name, "agent", folder, [folder], len(files), size))


def candidate_files(folder: Path) -> Iterator[Path]:
    """The files a folder ingest would try (the same walk, so counts match)."""
    from memdistill.ingest import IngestReport, expand_paths

    for path, _, _ in expand_paths([folder], IngestReport()):
        yield path


def _project_files(discovery: Discovery, roots: Sequence[Path]) -> None:
    patterns = {
        pattern: name for name, parser in PARSERS.items() for pattern in parser.hidden_paths
    }
    formats = ", ".join(sorted(set(patterns.values()))) or "per-project logs"
    if not roots:
        discovery.looked.append(Looked(formats, "project roots", "none named: --root DIR"))
        return
    for root in roots:
        if not root.is_dir():
            discovery.looked.append(Looked(formats, str(root), "absent"))
            continue
        by_format: dict[str, list[Path]] = {}
        for folder, names in _project_folders(root):
            for pattern, name in patterns.items():
                first = pattern.split("/", 1)[0]
                if first in names or any(c in first for c in "*?["):
                    by_format.setdefault(name, []).extend(
                        p for p in sorted(folder.glob(pattern)) if p.is_file()
                    )
        if not by_format:
            discovery.looked.append(Looked(formats, str(root), "none found"))
        for name, files in sorted(by_format.items()):
            size = sum(f.stat().st_size for f in files)
            discovery.found.append(Found(name, "project", root, files, len(files), size))


def _project_folders(root: Path) -> Iterator[tuple[Path, set[str]]]:
    """(folder, the names in it) for the root and its folders down to MAX_DEPTH, hidden
    folders and dependency trees left out (a log inside a hidden folder is still matched
    from its parent: `.specstory/history/*.md`)."""
    base_depth = len(root.parts)
    for folder, dirs, files in os.walk(root, onerror=lambda _: None):
        here = Path(folder)
        yield here, {*dirs, *files}
        if len(here.parts) - base_depth >= MAX_DEPTH:
            dirs.clear()
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _PRUNED)


def _exports(discovery: Discovery, folders: Sequence[Path]) -> None:
    for folder in dict.fromkeys(folders):
        if not folder.is_dir():
            discovery.looked.append(Looked("export zips", str(folder), "absent"))
            continue
        by_format: dict[str, list[Path]] = {}
        for archive in _zips_oldest_first(folder.iterdir()):
            name = export_format(archive)
            if name is not None:
                by_format.setdefault(name, []).append(archive)
        if not by_format:
            discovery.looked.append(Looked("export zips", str(folder), "no chat export zip"))
        for name, archives in by_format.items():
            size = sum(a.stat().st_size for a in archives)
            discovery.found.append(Found(name, "export", folder, archives, len(archives), size))


def _zips_oldest_first(entries: Iterable[Path]) -> list[Path]:
    zips = [p for p in entries if p.suffix.lower() == ".zip" and p.is_file()]
    return sorted(zips, key=lambda p: (p.stat().st_mtime, p.name))


def export_format(archive: Path) -> str | None:
    """The format of a zip's conversations member, when a parser other than the generic
    one recognises it (a downloads folder holds many zips; only chat exports count)."""
    try:
        members = chat_members(archive)
        if not members:
            return None
        name = detect_parser(cast(Path, members[0][0])).name
    except FormatError:
        return None
    return None if name == "generic" else name
