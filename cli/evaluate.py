"""`memdistill eval run` and `memdistill eval report`: the evaluation harness's commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from memdistill.cli.app import JsonOpt, _errors

eval_app = typer.Typer(
    name="eval",
    help="Evaluate retrieval quality: run search configurations, then report metrics.",
    no_args_is_help=True,
)


@eval_app.command("run")
def run(
    corpus: Annotated[
        list[Path],
        typer.Option(
            "--corpus", help="Chat logs to search (any format `ingest` reads); repeatable."
        ),
    ],
    runs_out: Annotated[
        Path, typer.Option("--runs-out", help="Folder for the runs (TREC files, qrels, latency).")
    ],
    queries: Annotated[
        Path | None,
        typer.Option("--queries", help="Query set (JSONL). A LoCoMo corpus brings its own."),
    ] = None,
    mode: Annotated[
        list[str] | None,
        typer.Option("--mode", "-m", help="Modes to run (default: all ten); repeatable."),
    ] = None,
    fusion: Annotated[
        list[str] | None,
        typer.Option(
            "--fusion",
            help="Fusions for multi-layer modes (default: rrf, combmnz, convex); repeatable.",
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Use this store instead of one inside the runs folder."),
    ] = None,
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="onnx (default) or sentence-transformers.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest the corpus, run every configuration of the grid, write the runs folder."""
    from memdistill.eval.runs import grid, run_eval
    from memdistill.retrieve.fusion import FUSIONS
    from memdistill.retrieve.modes import MODES, layers_of

    with _errors(as_json):
        for m in mode or []:
            layers_of(m)  # an unknown mode fails before any work
        configs = grid(mode or MODES, fusion or FUSIONS)
        config = run_eval(
            corpus, runs_out, queries_path=queries, configs=configs, store=store,
            embedder=embedder, progress=None if as_json else _progress(len(configs)),
        )  # fmt: skip
        if as_json:
            from memdistill.cli.render import emit_json

            emit_json(config)
        else:
            typer.echo(
                f"Ran {len(config['configs'])} configurations x {config['queries_run']} queries "
                f"into {runs_out}. Next: memdistill eval report --runs-out {runs_out} --out DIR"
            )


def _progress(total_configs: int) -> Any:
    from rich.console import Console

    console = Console(stderr=True)
    state = {"done": 0}

    def update(name: str, done: int, total: int) -> None:
        state["done"] += 1
        if sys.stderr.isatty():
            console.print(f"[{state['done']}/{total_configs}] {name}  ({done}/{total} searches)")

    return update


@eval_app.command("report")
def report(
    runs_out: Annotated[
        Path, typer.Option("--runs-out", help="A folder written by `memdistill eval run`.")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Where the report goes (Markdown, PNG plots, JSON).")
    ],
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="Configuration compared against (default: the best verbatim one)."
        ),
    ] = None,
    min_grade: Annotated[
        int,
        typer.Option(
            "--min-grade", help="Lowest grade counted relevant by binary metrics (1 or 2)."
        ),
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Score the runs (MRR@10, Recall@5/10, nDCG@10, P@5), test them, plot them."""
    from memdistill.eval.report import build_report

    with _errors(as_json):
        results = build_report(runs_out, out, baseline=baseline, min_grade=min_grade)
        if as_json:
            typer.echo(json.dumps(results, indent=2, default=str))
        else:
            typer.echo(f"Report written to {out / 'report.md'} (plots and results.json beside it).")
