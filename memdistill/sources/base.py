"""What a source parser is: detect a format, turn a file into conversations of messages."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

from memdistill.models import Conversation, Problem

ProblemSink = Callable[[Problem], None]

# How much of a file detection looks at.
HEAD_BYTES = 64 * 1024


class Parser(ABC):
    """One format. Subclasses set `name` and `description` and implement two methods."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Where a person finds this format's logs, in words (`memdistill formats`, the README).
    where: ClassVar[str] = ""
    #: Folders that hold this format's logs on a person's machine (``~`` is their home),
    #: for finding logs without being told where; empty when the logs have no fixed home.
    default_folders: ClassVar[tuple[str, ...]] = ()
    #: Bumped when the parser reads its files differently (another split, new kinds), so
    #: stores read them again instead of keeping what the older revision made of them.
    revision: ClassVar[int] = 1
    #: Where this format's logs sit under a hidden name inside a project, as path patterns
    #: matched from the right (`.specstory/history/*.md`): a folder ingest walks into them
    #: though it skips every other hidden path (.git, .venv...), and `ingest --root` finds
    #: them in the projects under a root (as globs from each project's folder).
    hidden_paths: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def sniff(self, path: Path, head: str) -> bool:
        """Whether the file looks like this format, from its name and its first bytes."""

    @abstractmethod
    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        """Yield the file's conversations.

        A bad line or record is reported to `problems` (with its line) and skipped; parsing
        carries on. Raise `FormatError` only when nothing in the file can be read.
        """
