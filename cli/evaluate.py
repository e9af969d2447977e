"""`memdistill eval run` and `memdistill eval report`: the evaluation harness's commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from memdistill.cli.app import JsonOpt, handle_errors

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
    grader: Annotated[
        list[str] | None,
        typer.Option(
            "--grader",
            help="An LLM grader for unlabelled queries, MODEL@BASE_URL (any OpenAI-compatible "
            "server); repeatable: grades are then a majority vote.",
        ),
    ] = None,
    grader_key_env: Annotated[
        str, typer.Option("--grader-key-env", help="Variable holding the graders' API key.")
    ] = "OPENAI_API_KEY",
    pool_depth: Annotated[
        int, typer.Option("--pool-depth", help="Each configuration's top N are graded.")
    ] = 10,
    grade_concurrency: Annotated[
        int, typer.Option("--grade-concurrency", help="Grading requests at once.")
    ] = 4,
    grades_cache: Annotated[
        Path | None,
        typer.Option("--grades-cache", help="SQLite file of cached grades (default: runs folder)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest the corpus, run every configuration of the grid, judge, write the runs folder."""
    from memdistill.eval.runs import grid, run_eval
    from memdistill.retrieve.fusion import FUSIONS
    from memdistill.retrieve.modes import MODES, layers_of

    with handle_errors(as_json):
        for m in mode or []:
            layers_of(m)  # an unknown mode fails before any work
        configs = grid(mode or MODES, fusion or FUSIONS)
        graders = [_grader(spec, grader_key_env) for spec in grader or []]
        with _bars(not as_json and sys.stderr.isatty()) as progress:
            config = run_eval(
                corpus, runs_out, queries_path=queries, configs=configs, store=store,
                embedder=embedder, graders=graders, pool_depth=pool_depth,
                grade_concurrency=grade_concurrency, grades_cache=grades_cache,
                progress=progress,
            )  # fmt: skip
        if as_json:
            from memdistill.cli.render import emit_json

            emit_json(config)
        else:
            typer.echo(
                f"Ran {len(config['configs'])} configurations x {config['queries_run']} queries "
                f"into {runs_out}. Next: memdistill eval report --runs-out {runs_out} --out DIR"
            )


def _grader(spec: str, key_env: str) -> Any:
    from memdistill.errors import ConfigError
    from memdistill.eval.graders import LLMGrader
    from memdistill.llm import Endpoint

    model, at, base_url = spec.rpartition("@")
    if not at or not model or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"--grader takes MODEL@BASE_URL, e.g. gpt-4o-mini@https://api.openai.com/v1 "
            f"or qwen2.5:7b@http://localhost:11434/v1, not {spec!r}"
        )
    return LLMGrader(spec, Endpoint(base_url=base_url, model=model, api_key_env=key_env))


@contextmanager
def _bars(enabled: bool) -> Iterator[Any]:
    """Rich progress bars for the searches and the grading; None when not on a terminal."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True)) as bars:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            key = "grading" if stage == "grading" else "searches"
            if key not in tasks:
                tasks[key] = bars.add_task(key, total=total)
            label = "grading (judgments)" if key == "grading" else f"searches: {stage}"
            bars.update(tasks[key], completed=done, total=total, description=label)

        yield update


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

    with handle_errors(as_json):
        results = build_report(runs_out, out, baseline=baseline, min_grade=min_grade)
        if as_json:
            typer.echo(json.dumps(results, indent=2, default=str))
        else:
            typer.echo(f"Report written to {out / 'report.md'} (plots and results.json beside it).")
