"""The `memdistill` command line (installed as `memdistill.cli`)."""

from __future__ import annotations

from memdistill.cli.app import app
from memdistill.cli.distill import distill
from memdistill.cli.evaluate import eval_app

app.command()(distill)
app.add_typer(eval_app)

__all__ = ["app", "main"]


def main() -> None:
    app()
