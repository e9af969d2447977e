"""Editing a person's JSON settings file without spoiling it: read strictly (a malformed
file is refused, never overwritten), write back in its own indentation and key order,
atomically, through a symlink to the file it points at (dotfile managers link them)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memdistill.errors import ConfigError

_FIRST_INDENT = re.compile(r"\n([ \t]+)\S")


@dataclass(frozen=True)
class JsonStyle:
    indent: str | None  # None: the file is on one line
    final_newline: bool


@dataclass
class JsonFile:
    path: Path
    data: dict[str, Any]
    style: JsonStyle
    existed: bool

    @classmethod
    def read(cls, path: Path) -> JsonFile:
        """The file's object ({} when there is no file or it is empty)."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, {}, JsonStyle("  ", True), existed=False)
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}; nothing was changed") from exc
        if not text.strip():
            return cls(path, {}, JsonStyle("  ", True), existed=True)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); fix it (or move "
                "it aside) and run this again: memdistill did not change it"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{path}: holds a JSON {type(data).__name__}, not an object; "
                "memdistill did not change it"
            )
        return cls(path, data, _style_of(text), existed=True)

    def write(self) -> None:
        """Replace the file (the one a symlink points at) in one step, mode kept."""
        target = self.path.resolve() if self.path.is_symlink() else self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.data, indent=self.style.indent, ensure_ascii=False)
        if self.style.final_newline:
            text += "\n"
        mode = target.stat().st_mode & 0o7777 if target.exists() else None
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            if mode is not None:
                os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _style_of(text: str) -> JsonStyle:
    found = _FIRST_INDENT.search(text)  # the first nested line holds one level
    if found:
        indent: str | None = found.group(1)
    else:  # on one line, or on several lines without indentation
        indent = "" if "\n" in text.strip() else None
    return JsonStyle(indent, text.endswith("\n"))
