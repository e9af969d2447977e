"""The `memdistill` command line (installed as `memdistill.cli`)."""

from __future__ import annotations

from memdistill.cli.app import app
from memdistill.cli.capture import watch
from memdistill.cli.distill import distill
from memdistill.cli.evaluate import eval_app
from memdistill.cli.forget import forget
from memdistill.cli.hooks import hooks_app
from memdistill.cli.mcp import mcp
from memdistill.cli.refine import history, refine, restore
from memdistill.cli.serve import keys_app, serve, ui

app.command()(distill)
app.command()(forget)
app.command()(mcp)
for command in (refine, history, restore):
    app.command()(command)
app.add_typer(eval_app)
app.command()(serve)
app.command()(ui)
app.add_typer(keys_app)
app.command()(watch)
app.add_typer(hooks_app)

__all__ = ["app", "main"]


def main() -> None:
    app()
