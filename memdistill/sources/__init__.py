"""The source formats memdistill reads, and the one place a new format is registered.

`FORMATS` maps each format's name to the module and class of its parser, in detection
priority: specific formats first, the generic message-list format last, since almost any
chat JSON has "role" and "content". A parser module is imported only when its parser is
first wanted, so listing the names (`--format`'s help, error messages) costs nothing at
start-up; `PARSERS` is the same table as parser classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from memdistill.errors import ConfigError, FormatError
from memdistill.sources.base import HEAD_BYTES, Parser

# name -> "module:Class" under memdistill.sources; the order is the detection order.
FORMATS: dict[str, str] = {
    "claude-code": "claude_code:ClaudeCodeParser",
    "codex": "codex:CodexParser",
    "gemini": "gemini:GeminiParser",
    "gemini-stream": "gemini_stream:GeminiStreamParser",
    "chatgpt": "chatgpt:ChatGPTParser",
    "locomo": "locomo:LoCoMoParser",
    "sharegpt": "sharegpt:ShareGPTParser",
    "specstory": "specstory:SpecStoryParser",
    "aider": "aider:AiderParser",
    "claude-console": "claude_console:ClaudeConsoleParser",
    "generic": "generic:GenericParser",
}


class _Parsers(Mapping[str, type[Parser]]):
    """FORMATS as parser classes, each module imported on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, type[Parser]] = {}

    def __getitem__(self, name: str) -> type[Parser]:
        loaded = self._loaded.get(name)
        if loaded is None:
            module, _, cls = FORMATS[name].partition(":")
            loaded = getattr(importlib.import_module(f"memdistill.sources.{module}"), cls)
            self._loaded[name] = loaded
        return loaded

    def __iter__(self) -> Iterator[str]:
        return iter(FORMATS)

    def __len__(self) -> int:
        return len(FORMATS)


PARSERS: Mapping[str, type[Parser]] = _Parsers()

__all__ = [
    "FORMATS",
    "PARSERS",
    "Parser",
    "detect_parser",
    "get_parser",
    "hidden_log_paths",
    "parser_names",
]


def parser_names() -> list[str]:
    return list(FORMATS)


def hidden_log_paths() -> tuple[str, ...]:
    """Every format's `hidden_paths`: the hidden files a folder ingest does not skip."""
    return tuple(pattern for parser in PARSERS.values() for pattern in parser.hidden_paths)


def get_parser(name: str) -> Parser:
    if name not in FORMATS:
        known = ", ".join(FORMATS)
        raise ConfigError(f"unknown source format {name!r}; known formats: {known}")
    return PARSERS[name]()


def detect_parser(path: Path) -> Parser:
    """The first parser, in priority order, whose `sniff` accepts the file's head."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(HEAD_BYTES)
    except OSError as exc:
        raise FormatError(f"cannot read the file: {exc.strerror or exc}", path=str(path)) from exc
    head = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    for parser_class in PARSERS.values():
        parser = parser_class()
        if parser.sniff(path, head):
            return parser
    known = ", ".join(FORMATS)
    raise FormatError(
        f"unknown format: no parser recognises this file (known formats: {known}); "
        "pass `--format NAME` to choose one",
        path=str(path),
    )
