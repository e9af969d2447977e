"""Where capture looks and how long it lets a session settle: the defaults, then the
store's `[capture]` table in config.toml, then flags.

    [capture]
    roots = ["~/code", "~/work"]   # project folders holding per-project logs (Aider)
    exports = ["~/Downloads"]      # folders where data-export zips land (ChatGPT)
    settle = 5.0                   # watch: seconds a file must stay unchanged
    max_wait = 60.0                # watch: ingest a file written without pause this often
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memdistill.config import CONFIG_NAME, config_table, with_values
from memdistill.errors import ConfigError


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    roots: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()  # none named: the platform's downloads folder
    settle: float = 5.0
    max_wait: float = 60.0

    @classmethod
    def load(
        cls, store_folder: Path, overrides: Mapping[str, Any] | None = None
    ) -> CaptureSettings:
        settings = with_values(cls(), config_table(store_folder, "capture"), CONFIG_NAME, "capture")
        given = {k: v for k, v in (overrides or {}).items() if v not in (None, ())}
        settings = with_values(settings, given, "the flags", "capture")
        if settings.settle <= 0 or settings.max_wait < settings.settle:
            raise ConfigError(
                f"capture settle must be above 0 and max_wait at least settle, not "
                f"settle={settings.settle}, max_wait={settings.max_wait}"
            )
        return settings

    def root_folders(self) -> list[Path]:
        return [expand(r) for r in self.roots]

    def export_folders(self) -> list[Path]:
        if self.exports:
            return [expand(e) for e in self.exports]
        import platformdirs

        found = [Path(platformdirs.user_downloads_dir()), expand("~/Downloads")]
        return list(dict.fromkeys(found))  # XDG's folder may be ~/Downloads itself


def expand(folder: str) -> Path:
    """`~` and `$VARS` expanded; a folder naming an unset variable stays as written (and so
    does not exist)."""
    return Path(os.path.expandvars(folder)).expanduser()
