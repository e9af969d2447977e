"""Where the store lives and the few settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "MEMDISTILL_HOME"
DEFAULT_TENANT = "default"


def default_store_path() -> Path:
    """`MEMDISTILL_HOME`, else the platform's user data folder."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("memdistill", appauthor=False))


def resolve_store_path(store: str | Path | None) -> Path:
    return Path(store).expanduser() if store else default_store_path()
