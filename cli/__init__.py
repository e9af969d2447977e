"""The `memdistill` command line (installed as `memdistill.cli`)."""

from __future__ import annotations

from memdistill.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    app()
