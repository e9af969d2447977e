"""`memdistill distill`: distil stored exchanges again."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from memdistill.cli.app import (
    DEFAULT_TENANT,
    JsonOpt,
    ProjectOpt,
    StoreOpt,
    TenantOpt,
    handle_errors,
    open_memory,
    parse_time,
)
from memdistill.cli.llm_options import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    ModelOpt,
    PriceInOpt,
    PriceOutOpt,
    TemperatureOpt,
    TimeoutOpt,
    distiller_options,
)


def distill(
    distiller: Annotated[
        str, typer.Option("--distiller", help="offline or llm: the distiller to use now.")
    ],
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    temperature: TemperatureOpt = None,
    timeout: TimeoutOpt = None,
    concurrency: ConcurrencyOpt = None,
    price_in: PriceInOpt = None,
    price_out: PriceOutOpt = None,
    only_fallbacks: Annotated[
        bool,
        typer.Option("--only-fallbacks", help="Just the memories an LLM run distilled offline."),
    ] = False,
    project: ProjectOpt = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Only this conversation (its id).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="From this date/time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before this date/time.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Only exchanges touching it.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Distil stored exchanges again (a new distiller or prompt, or LLM fallbacks); only
    memories that change are rewritten and re-indexed."""
    from memdistill.cli import render

    with handle_errors(as_json):
        options = distiller_options(distiller, locals())
        filters = {
            "project": project,
            "conversation": conversation,
            "since": parse_time(since, "--since"),
            "until": parse_time(until, "--until"),
            "file": file,
        }
        with open_memory(store, tenant, distiller=distiller, distiller_options=options) as memory:
            memory.distiller  # bad distiller settings fail before any work  # noqa: B018
            if quiet or as_json or not sys.stderr.isatty():
                report = memory.distill(only_fallbacks=only_fallbacks, **filters)
            else:
                from rich.progress import Progress

                with Progress(transient=True) as bar:
                    task = bar.add_task("distilling", total=None)
                    report = memory.distill(
                        only_fallbacks=only_fallbacks,
                        on_progress=lambda done, total: bar.update(
                            task, completed=done, total=total
                        ),
                        **filters,
                    )
        if as_json:
            from dataclasses import asdict

            render.emit_json(asdict(report))
            return
        typer.echo(
            f"Distilled {report.considered} exchanges: {report.changed} changed, "
            f"{report.unchanged} unchanged"
            + (f", {report.failed} kept (the LLM failed on them)" if report.failed else "")
            + f" ({report.timings.get('total', 0.0):.1f} s)"
        )
        if report.llm:
            render.print_llm_account(report.llm)
