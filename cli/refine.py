"""`memdistill refine`, `history` and `restore`: refinement, its audit trail, its undo."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer

from memdistill.cli.app import (
    DEFAULT_TENANT,
    JsonOpt,
    ProjectOpt,
    StoreOpt,
    TenantOpt,
    handle_errors,
    open_memory,
)

IdArg = Annotated[int, typer.Argument(help="A memory (exchange) id, as search printed it.")]


def refine(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    rule: Annotated[
        list[str] | None,
        typer.Option("--rule", help="Run only this rule: merge, supersede, prune (repeatable)."),
    ] = None,
    min_freq: Annotated[
        int | None, typer.Option("--min-freq", help="Prune only memories served this often (5).")
    ] = None,
    min_utility_ratio: Annotated[
        float | None,
        typer.Option("--min-utility-ratio", help="... whose utility/freq is below this (0.5)."),
    ] = None,
    merge_similarity: Annotated[
        float | None,
        typer.Option("--merge-similarity", help="Cosine above which memories are duplicates."),
    ] = None,
    supersede_similarity: Annotated[
        float | None,
        typer.Option("--supersede-similarity", help="Cosine above which a later one revisits."),
    ] = None,
    project: ProjectOpt = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Prune memories that keep being served without helping, merge near-duplicates, and
    retire decisions a later exchange reversed. Nothing is deleted: `restore ID` undoes."""
    from memdistill.refine import RefineSettings
    from memdistill.refine.base import STATUS_OF_RULE

    with handle_errors(as_json):
        flags: dict[str, Any] = {
            "min_freq": min_freq,
            "min_utility_ratio": min_utility_ratio,
            "merge_similarity": merge_similarity,
            "supersede_similarity": supersede_similarity,
            "rules": tuple(rule) if rule else None,
        }
        with open_memory(store, tenant) as memory:
            settings = RefineSettings.load(memory.store.folder, flags)
            report = memory.refine(settings, dry_run=dry_run, project=project)
    if as_json:
        from memdistill.cli.render import emit_json

        emit_json({
            "dry_run": report.dry_run,
            "active_before": report.active_before,
            "counts": report.counts(),
            "changes": [asdict(c) for c in report.changes],
            "skipped": [asdict(c) for c in report.skipped],
            "indexed_before": report.indexed_before,
            "indexed_after": report.indexed_after,
        })  # fmt: skip
        return
    if not report.changes:
        typer.echo(f"Nothing to refine among {report.active_before} active memories.")
        return
    typer.echo(f"{'rule':<10} {'memory':>8} {'into/by':>8}  reason")
    for c in report.changes:
        target = f"[{c.target}]" if c.target is not None else ""
        typer.echo(f"{c.rule:<10} {f'[{c.exchange_id}]':>8} {target:>8}  {c.reason}")
    counts = ", ".join(f"{n} {STATUS_OF_RULE[rule]}" for rule, n in report.counts().items() if n)
    if report.dry_run:
        typer.echo(f"\nWould take {len(report.changes)} of {report.active_before} memories out "
                   f"of the indexes ({counts}). Run without --dry-run to apply.")  # fmt: skip
        return
    typer.echo(f"\nTook {len(report.written)} of {report.active_before} memories out of the "
               f"indexes ({counts}); indexed exchanges {report.indexed_before} -> "
               f"{report.indexed_after}.")  # fmt: skip
    if report.skipped:
        typer.echo(f"Skipped {len(report.skipped)}: changed by another process meanwhile.")
    typer.echo("`memdistill history ID` shows why; `memdistill restore ID` undoes one.")


def history(
    exchange_id: IdArg,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Every change to a memory: created, re-distilled, feedback, refined, restored."""
    import json

    with handle_errors(as_json), open_memory(store, tenant) as memory:
        entries = memory.history(exchange_id)
    if as_json:
        from memdistill.cli.render import emit_json

        emit_json([asdict(e) for e in entries])
        return
    for e in entries:
        detail = dict(e.detail)
        reason = detail.pop("reason", None)
        typer.echo(f"{e.at[:19].replace('T', ' ')}  {e.action}" + (f": {reason}" if reason else ""))
        if detail:
            typer.echo("    " + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}"
                                         for k, v in detail.items()))  # fmt: skip


def restore(
    exchange_id: IdArg,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Undo the prune, merge or supersede of a memory; it is searchable again."""
    with handle_errors(as_json), open_memory(store, tenant) as memory:
        detail = memory.restore(exchange_id)
    if as_json:
        from memdistill.cli.render import emit_json

        emit_json({"restored": exchange_id, **detail})
        return
    typer.echo(f"Restored [{exchange_id}] (it had been {detail['undid']}); searchable again.")
