"""Reading the harness's text files (JSON, JSONL, whitespace-separated lines).

Every error is a FormatError naming the file, and the line when there is one; callers
add what the line should have been.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memdistill.errors import FormatError

REGENERATE = "fix or regenerate this line"


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FormatError("not UTF-8 text; fix or regenerate the file", path=str(path)) from None
    except OSError as exc:
        raise FormatError(f"cannot read the file ({exc})", path=str(path)) from exc


def json_lines(path: Path, hint: str = REGENERATE) -> list[tuple[int, Any]]:
    """(line number, JSON value) of each non-blank line; a line that is not JSON is an
    error naming file and line, followed by `hint`."""
    values: list[tuple[int, Any]] = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            values.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise bad_line(path, number, f"not JSON ({error.msg})", hint) from None
    return values


def read_jsonl(path: Path) -> list[tuple[int, Mapping[str, Any]]]:
    """(line number, object) of each non-blank line; every line must be a JSON object."""
    records: list[tuple[int, Mapping[str, Any]]] = []
    for number, record in json_lines(path):
        if not isinstance(record, dict):
            raise bad_line(path, number, "expected a JSON object")
        records.append((number, record))
    return records


def read_json(path: Path) -> Any:
    """A JSON file's content, None when it does not exist."""
    if not path.is_file():
        return None
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise FormatError(f"not valid JSON ({error}); regenerate it", path=str(path)) from None


def split_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, whitespace-separated fields) of each non-blank line (TREC files)."""
    text = read_text(path)
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def bad_line(path: Path, number: int, what: str, hint: str = REGENERATE) -> FormatError:
    return FormatError(f"{what}; {hint}", path=str(path), line=number)
