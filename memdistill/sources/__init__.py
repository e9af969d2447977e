"""The source formats memdistill reads, and the one place a new format is registered.

`PARSERS` is ordered by detection priority: specific formats first, the generic
message-list format last, since almost any chat JSON has "role" and "content".
"""

from __future__ import annotations

from pathlib import Path

from memdistill.errors import ConfigError, FormatError
from memdistill.sources.base import HEAD_BYTES, Parser
from memdistill.sources.chatgpt import ChatGPTParser
from memdistill.sources.claude_code import ClaudeCodeParser
from memdistill.sources.claude_console import ClaudeConsoleParser
from memdistill.sources.codex import CodexParser
from memdistill.sources.generic import GenericParser
from memdistill.sources.locomo import LoCoMoParser

PARSERS: dict[str, type[Parser]] = {
    parser.name: parser
    for parser in (
        ClaudeCodeParser,
        CodexParser,
        ChatGPTParser,
        LoCoMoParser,
        ClaudeConsoleParser,
        GenericParser,
    )
}

__all__ = ["PARSERS", "Parser", "detect_parser", "get_parser", "parser_names"]


def parser_names() -> list[str]:
    return list(PARSERS)


def get_parser(name: str) -> Parser:
    try:
        return PARSERS[name]()
    except KeyError:
        known = ", ".join(PARSERS)
        raise ConfigError(f"unknown source format {name!r}; known formats: {known}") from None


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
    known = ", ".join(PARSERS)
    raise FormatError(
        f"unknown format: no parser recognises this file (known formats: {known}); "
        "pass `--format NAME` to choose one",
        path=str(path),
    )
