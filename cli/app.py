"""The `memdistill` command: parse arguments, call the library, format the answer."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from memdistill.cli.llm_options import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DistillerOpt,
    ModelOpt,
    PriceInOpt,
    PriceOutOpt,
    TemperatureOpt,
    TimeoutOpt,
    distiller_options,
)
from memdistill.config import DEFAULT_TENANT, parse_time, parse_weights
from memdistill.errors import ConfigError, MemdistillError
from memdistill.retrieve.fusion import DEFAULT_FUSION
from memdistill.retrieve.modes import DEFAULT_MODE
from memdistill.sources import parser_names  # names only: no parser module is imported

app = typer.Typer(
    name="memdistill",
    help="Personal memory from your chat logs with AI agents: ingest, distil, search offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", help="Store folder (default: $MEMDISTILL_HOME, else the user data folder)."
    ),
]
TenantOpt = Annotated[
    str, typer.Option("--tenant", help="Whose memories (one store can hold several users).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output (errors too).")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Only this project.")]
RootsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--root",
        help="A project folder, or a folder of projects, holding per-project logs (Aider's "
        ".aider.chat.history.md); repeatable. Default: `roots` in the capture table of "
        "the store's config.toml.",
    ),
]


@contextmanager
def handle_errors(as_json: bool) -> Iterator[None]:
    """A MemdistillError is one line saying what to do, and exit code 1."""
    try:
        yield
    except MemdistillError as exc:
        if as_json:
            from memdistill.cli.render import emit_json

            emit_json({"error": str(exc), "type": type(exc).__name__})
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def open_memory(store: Path | None, tenant: str, *, create: bool = False, **kwargs: Any) -> Any:
    from memdistill.api import Memory

    return Memory.open(store, tenant=tenant, create=create, **kwargs)


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Chat-log files, folders (searched recursively) or export zips; none: "
            "find every known agent's logs on this machine (--auto)."
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"Skip detection: {', '.join(parser_names())} (`memdistill formats`).",
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="Project for conversations whose source names none."),
    ] = None,
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="onnx (default) or sentence-transformers.")
    ] = None,
    distiller: DistillerOpt = "offline",
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    temperature: TemperatureOpt = None,
    timeout: TimeoutOpt = None,
    concurrency: ConcurrencyOpt = None,
    price_in: PriceInOpt = None,
    price_out: PriceOutOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    auto: Annotated[
        bool,
        typer.Option(
            "--auto",
            help="Find the logs: every known agent's folder, Aider histories under --root, "
            "export zips in Downloads; say what was found, ingest each (the default with no "
            "path).",
        ),
    ] = False,
    roots: RootsOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="With --auto: say what was found, ingest nothing.")
    ] = False,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Ingest chat logs: parse, split into exchanges, distil, embed, store and index.

    With no path, finds them (--auto). With --distiller llm, an OpenAI-compatible model
    distils (secrets redacted first; answers cached, so re-ingesting costs nothing); what it
    fails on is distilled offline."""
    from memdistill.cli import render

    with handle_errors(as_json):
        options = distiller_options(distiller, locals())
        if paths and (auto or roots or dry_run):
            raise ConfigError("give paths, or --auto (with --root, --dry-run), not both")
        if not paths and format is not None:
            raise ConfigError("--format applies to the paths you name; --auto detects formats")
        if format is not None:
            from memdistill.sources import get_parser

            get_parser(format)  # an unknown format fails before any work
        with open_memory(
            store, tenant, create=True, embedder=embedder, distiller=distiller,
            distiller_options=options,
        ) as memory:  # fmt: skip
            memory.distiller  # bad distiller settings fail before any work  # noqa: B018
            if not paths:
                from memdistill.cli.capture import ingest_auto, load_settings

                settings = load_settings(memory, roots=roots)
                ingest_auto(
                    memory, settings, project, quiet=quiet, as_json=as_json, dry_run=dry_run
                )
                return
            if quiet or as_json or not sys.stderr.isatty():
                report = memory.ingest(paths, format=format, project=project)
            else:
                report = _ingest_with_progress(memory, paths, format, project)
        if as_json:
            render.emit_json(render.report_json(report))
        else:
            render.print_report(report)
        if report.files_failed and report.files_failed == report.files:
            raise typer.Exit(1)


def _ingest_with_progress(
    memory: Any, paths: list[Path], fmt: str | None, project: str | None
) -> Any:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[exchanges]} exchanges"),
        TextColumn("{task.fields[llm]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("ingesting", total=None, exchanges=0, llm="")

        def update(progress: Any) -> None:
            spent = progress.llm
            bar.update(
                task,
                total=progress.bytes_total,
                completed=progress.bytes_done,
                exchanges=progress.distilled,
                llm=f"{spent['prompt_tokens']:,} tokens in, {spent['completion_tokens']:,} out"
                if spent
                else "",
                description=(progress.current or "done")[:40],
            )

        return memory.ingest(paths, format=fmt, project=project, on_progress=update)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What you are looking for, in your own words.")],
    k: Annotated[int, typer.Option("-k", help="How many hits.")] = 10,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            "-m",
            help=(
                "verbatim-bm25, verbatim-vector, distilled-bm25, distilled-vector, "
                "distilled-hybrid, or layers joined by '+'; 'all' fuses all four."
            ),
        ),
    ] = DEFAULT_MODE,
    fusion: Annotated[
        str, typer.Option("--fusion", help="combmnz (default), rrf, or convex.")
    ] = DEFAULT_FUSION,
    weights: Annotated[
        str | None, typer.Option("--weights", help="Convex weights, one per layer: 0.7,0.3.")
    ] = None,
    project: ProjectOpt = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Only this conversation id.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only exchanges from this time on (ISO).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only exchanges before this time (ISO).")
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", help="Only exchanges that touched this file (path or trailing part)."
        ),
    ] = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Search memories; each hit drills down to the verbatim exchange (`show ID`)."""
    from memdistill.cli import render

    with handle_errors(as_json):
        weight_values = parse_weights(weights, "--weights")
        with open_memory(store, tenant) as memory:
            hits = memory.search(
                query,
                k=k,
                mode=mode,
                fusion=fusion,
                weights=weight_values,
                project=project,
                conversation=conversation,
                since=parse_time(since, "--since"),
                until=parse_time(until, "--until"),
                file=file,
            )
        if as_json:
            render.emit_json([render.hit_json(h) for h in hits])
        else:
            render.print_hits(hits)


@app.command()
def show(
    exchange_id: Annotated[int, typer.Argument(help="An exchange id from `search` or `room`.")],
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Print one exchange verbatim, with its distilled memory (the drill-down)."""
    from memdistill.cli import render

    with handle_errors(as_json):
        with open_memory(store, tenant) as memory:
            hit = memory.get(exchange_id)
            messages = memory.drill_down(exchange_id)
        if as_json:
            render.emit_json(
                {**render.hit_json(hit), "messages": [render.message_json(m) for m in messages]}
            )
        else:
            render.print_exchange(hit, messages)


@app.command()
def rooms(
    project: ProjectOpt = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """List rooms (files, concepts, workflows) with how many exchanges each holds."""
    from dataclasses import asdict

    from memdistill.cli import render

    with handle_errors(as_json):
        with open_memory(store, tenant) as memory:
            found = memory.rooms(project)
        if as_json:
            render.emit_json([asdict(r) for r in found])
        else:
            render.print_rooms(found)


@app.command()
def room(
    key: Annotated[str, typer.Argument(help="A room key from `rooms`, e.g. file:src/app.py.")],
    project: ProjectOpt = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """The exchanges of one room, oldest first."""
    from memdistill.cli import render

    with handle_errors(as_json):
        with open_memory(store, tenant) as memory:
            hits = memory.room(key, project)
        if as_json:
            render.emit_json([render.hit_json(h) for h in hits])
        else:
            render.print_hits(hits)


@app.command()
def stats(
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Counts, tokens and the compression ratio of the store."""
    from dataclasses import asdict

    from memdistill.cli import render

    with handle_errors(as_json):
        with open_memory(store, tenant) as memory:
            found = memory.stats()
            where = str(memory.store.folder)
        if as_json:
            render.emit_json({"store": where, **asdict(found)})
        else:
            render.print_stats(found, where)


@app.command()
def reindex(
    embedder: Annotated[
        str | None, typer.Option("--embedder", help="Re-embed everything with this embedder first.")
    ] = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the BM25 and vector indexes from the SQLite store."""
    from memdistill.cli import render

    with handle_errors(as_json):
        with open_memory(store, tenant) as memory:
            count = memory.reindex(embedder=embedder)
            model = memory.store.get_meta("embedder")
        if as_json:
            render.emit_json({"indexed": count, "embedder": model})
        else:
            typer.echo(f"Reindexed {count} exchanges ({model}).")


@app.command()
def feedback(
    ids: Annotated[list[int], typer.Argument(help="Exchange ids, as search printed them.")],
    useful: Annotated[bool, typer.Option("--useful/--not-useful", help="Did these memories help?")],
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Say whether memories helped (per task: every id your agent was given, by whether
    the task succeeded); refinement weighs it against how often they were served."""
    from memdistill.cli import render

    with handle_errors(as_json):
        with open_memory(store, tenant) as memory:
            count = memory.feedback(ids, useful=useful)
        if as_json:
            render.emit_json({"recorded": count, "useful": useful})
        else:
            typer.echo(f"Recorded: {count} {'useful' if useful else 'not useful'}.")


@app.command()
def formats(as_json: JsonOpt = False) -> None:
    """The chat-log formats `ingest` reads."""
    from memdistill.sources import get_parser

    parsers = [get_parser(name) for name in parser_names()]
    if as_json:
        from memdistill.cli.render import emit_json

        emit_json({p.name: {"description": p.description, "where": p.where} for p in parsers})
    else:
        for parser in parsers:
            typer.echo(f"{parser.name:<16} {parser.description}")
            typer.echo(f"{'':<16} where: {parser.where}")
