"""`memdistill forget`: delete exchanges for real, after showing what goes."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

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
from memdistill.errors import ConfigError

if TYPE_CHECKING:
    from memdistill.forget import ForgetPlan, ForgetReport

SHOWN = 5  # exchanges listed before "... and N more"
CORE_CHARS = 70


def forget(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Exchange ids, as search printed them.")
    ] = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="Only this conversation (its id).")
    ] = None,
    project: ProjectOpt = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Exchanges from this time on (ISO).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Exchanges before this time (ISO).")
    ] = None,
    text: Annotated[
        str | None,
        typer.Option("--text", help="Exchanges whose messages or memory hold this (any case)."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; delete.")] = False,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Delete exchanges for good: messages, memories, vectors, history, index entries; the
    store file is vacuumed so their text is gone from disk, and ingest never brings them
    back. Selectors combine with AND; at least one is needed."""
    from memdistill.cli import render

    def confirm(plan: ForgetPlan) -> bool:
        _show(plan, err=as_json)  # with --json, stdout holds only the JSON answer
        if not _interactive():
            loose = _count(len(plan.loose), "conversation")
            loose = f" and {loose} with none" if plan.loose else ""
            raise ConfigError(
                "not asking: standard input is not a terminal; pass --yes to forget "
                + _count(len(plan.exchanges), "exchange")
                + loose
            )
        return typer.confirm("Forget them?", default=False, err=as_json)

    with handle_errors(as_json), open_memory(store, tenant) as memory:
        report = memory.forget(
            ids or [],
            conversation=conversation,
            project=project,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
            text=text,
            confirm=None if yes else confirm,
        )
    if as_json:
        render.emit_json(asdict(report))
    else:
        _print(report)
    if not report.confirmed:
        raise typer.Exit(1)


def _interactive() -> bool:
    """Whether someone can answer the question (a pipe or /dev/null cannot)."""
    return sys.stdin.isatty()


def _show(plan: ForgetPlan, *, err: bool) -> None:
    count = len(plan.exchanges)
    typer.echo(
        f"{count} exchange{'s' if count != 1 else ''} will be deleted for good "
        "(messages, memories, vectors, history):",
        err=err,
    )
    for target in plan.exchanges[:SHOWN]:
        when = target.started_at.strftime("%Y-%m-%d %H:%M") if target.started_at else "no time"
        core = target.exchange_core.replace("\n", " ")
        if len(core) > CORE_CHARS:
            core = core[: CORE_CHARS - 1] + "…"
        typer.echo(f"  [{target.exchange_id}] {target.project}  {when}  {core}", err=err)
    if count > SHOWN:
        typer.echo(f"  ... and {count - SHOWN} more", err=err)
    if plan.loose:
        messages = sum(loose.messages for loose in plan.loose)
        typer.echo(
            f"and {_count(len(plan.loose), 'conversation')} with no exchange "
            f"({_count(messages, 'message')}, not searchable): "
            + ", ".join(loose.conversation for loose in plan.loose[:SHOWN])
            + (" ..." if len(plan.loose) > SHOWN else ""),
            err=err,
        )
    if plan.restores:
        typer.echo(
            f"{plan.restores} memor{'ies' if plan.restores != 1 else 'y'} merged into or "
            "superseded by them will be active again.",
            err=err,
        )


def _print(report: ForgetReport) -> None:
    if not report.confirmed:
        typer.echo("Nothing was forgotten.")
        return
    parts = [
        _count(report.conversations_deleted, "conversation") + " and "
        + _count(report.rooms_deleted, "room") + " left empty, deleted",
        _count(report.llm_cache_deleted, "cached LLM answer") + " dropped",
    ]  # fmt: skip
    if report.loose_messages_deleted:
        parts.append(_count(report.loose_messages_deleted, "message") + " outside any exchange")
    if report.restored:
        parts.append(_count(len(report.restored), "memory", "memories") + " active again")
    if report.kept.rewritten or report.kept.deleted:
        parts.append(f"kept copies of what the service was sent: "
                     f"{_count(len(report.kept.rewritten), 'file')} rewritten, "
                     f"{len(report.kept.deleted)} deleted")  # fmt: skip
    typer.echo(f"Forgot {_count(len(report.forgotten), 'exchange')} ({'; '.join(parts)}).")
    if not report.scrubbed:
        typer.echo(
            "warning: another process is using the store, so the file could not be rewritten "
            "yet: free pages or the write-ahead log may still hold the deleted text. The next "
            "`memdistill forget` (any selector) finishes it",
            err=True,
        )


def _count(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"
