"""`memdistill ingest` with no path (find the logs), and `memdistill watch`."""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from memdistill.cli.app import (
    DEFAULT_TENANT,
    RootsOpt,
    StoreOpt,
    TenantOpt,
    handle_errors,
)
from memdistill.errors import ConfigError

if TYPE_CHECKING:
    from memdistill.api import Memory
    from memdistill.capture.discover import Discovery, Found
    from memdistill.capture.settings import CaptureSettings
    from memdistill.capture.watch import Target, WatchEvent
    from memdistill.ingest import IngestReport


def load_settings(memory: Memory, **flags: Any) -> CaptureSettings:
    from memdistill.capture.settings import CaptureSettings

    given = {k: tuple(str(p) for p in v) if isinstance(v, list) else v for k, v in flags.items()}
    return CaptureSettings.load(memory.store.folder, given)


def ingest_auto(
    memory: Memory,
    settings: CaptureSettings,
    project: str | None,
    *,
    quiet: bool,
    as_json: bool,
    dry_run: bool,
) -> None:
    """Find every known agent's logs, say what and where, ingest each source, say what
    each added."""
    from memdistill.capture.discover import discover
    from memdistill.cli import render
    from memdistill.cli.app import _ingest_with_progress

    discovery = discover(settings.root_folders(), settings.export_folders())
    if not discovery.found:
        _nothing_found(discovery, memory.store.folder, as_json)
    if not as_json:
        _print_found(discovery)
    if dry_run:
        if as_json:
            render.emit_json(_discovery_json(discovery))
        return
    done: list[tuple[Found, IngestReport]] = []
    for found in discovery.found:
        if quiet or as_json or not sys.stderr.isatty():
            report = memory.ingest(found.paths, project=project)
        else:
            report = _ingest_with_progress(memory, found.paths, None, project)
        done.append((found, report))
        if not as_json:
            typer.echo(f"  {found.format:<14} {_short(found.where)}: {_summary(report)}")
    total = combined([report for _, report in done])
    if as_json:
        sources = [
            {"format": f.format, "where": str(f.where), **render.report_json(r)} for f, r in done
        ]
        render.emit_json(
            {**_discovery_json(discovery), "sources": sources, "total": render.report_json(total)}
        )
    else:
        typer.echo("Total: ", nl=False)
        render.print_report(total)
    if total.files_failed and total.files_failed == total.files:
        raise typer.Exit(1)


def combined(reports: list[IngestReport]) -> IngestReport:
    from memdistill.ingest import IngestReport

    total = IngestReport()
    for report in reports:
        for name in (f.name for f in fields(report)):
            value = getattr(report, name)
            if isinstance(value, int):  # counters
                setattr(total, name, getattr(total, name) + value)
            elif isinstance(value, list):  # problems, skipped files, internal agents
                getattr(total, name).extend(value)
        for stage, seconds in report.timings.items():
            total.time(stage, seconds)
        if report.llm:
            total.llm = _add_accounts(total.llm or {}, report.llm)
    return total


def _add_accounts(before: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Two runs' LLM accounts as one: counters and cost added, settings as the last."""
    out = {**before, **more}
    for name, value in more.items():
        earlier = before.get(name)
        if name in ("price_in", "price_out") or isinstance(value, bool):
            continue
        if isinstance(value, int | float) and isinstance(earlier, int | float):
            out[name] = earlier + value
    reasons = dict(before.get("fallback_reasons") or {})
    for reason, n in (more.get("fallback_reasons") or {}).items():
        reasons[reason] = reasons.get(reason, 0) + n
    out["fallback_reasons"] = reasons
    return out


def _print_found(discovery: Discovery) -> None:
    typer.echo("Found chat logs:")
    for found in discovery.found:
        files = _count(found.files, "export zip" if found.kind == "export" else "file")
        typer.echo(f"  {found.format:<14} {_short(found.where)}: {files}, {_size(found.bytes)}")
    if discovery.looked:
        looked = "; ".join(
            f"{lk.what}: {_short(lk.where)} ({lk.result})" for lk in discovery.looked
        )
        typer.echo(f"Also looked in: {looked}")
    typer.echo("Ingesting:")


def _nothing_found(discovery: Discovery, store: Path, as_json: bool) -> None:
    if as_json:
        from memdistill.cli.render import emit_json

        emit_json({**_discovery_json(discovery), "error": "no chat logs found"})
        raise typer.Exit(1)
    lines = ["No chat logs found. Looked in:"]
    lines += [f"  {lk.what}: {_short(lk.where)} ({lk.result})" for lk in discovery.looked]
    lines += [
        "Point at logs with `memdistill ingest PATH` (files, folders or export zips), or name",
        'project folders with `--root DIR` (or `roots = ["~/code"]` under [capture] in',
        f"{store / 'config.toml'}). `memdistill formats` says where each agent keeps its logs.",
    ]
    typer.echo("\n".join(lines), err=True)
    raise typer.Exit(1)


def _discovery_json(discovery: Discovery) -> dict[str, Any]:
    return {
        "found": [
            {**asdict(f), "where": str(f.where), "paths": [str(p) for p in f.paths]}
            for f in discovery.found
        ],
        "looked": [asdict(lk) for lk in discovery.looked],
    }


def _summary(report: IngestReport) -> str:
    parts = [_count(report.files, "file")]
    details = [
        f"{n} {what}"
        for n, what in (
            (report.files_unchanged, "unchanged"),
            (report.files_failed, "failed"),
            (report.files_skipped, "not chat logs"),
        )
        if n
    ]
    if details:
        parts[0] += f" ({', '.join(details)})"
    parts.append(f"{_count(report.exchanges_added, 'exchange')} added")
    if report.exchanges_updated:
        parts.append(f"{report.exchanges_updated} updated")
    return ", ".join(parts)


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'s' if n != 1 else ''}"


def _short(where: str | Path) -> str:
    text, home = str(where), str(Path.home())
    return "~" + text[len(home) :] if text == home or text.startswith(home + "/") else text


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def watch(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Files or folders to watch (default: every known agent's folder, the "
            "per-project logs under --root, export zips landing in the downloads folder)."
        ),
    ] = None,
    roots: RootsOpt = None,
    settle: Annotated[
        float | None,
        typer.Option("--settle", help="Seconds a file must stay unchanged before it is read."),
    ] = None,
    max_wait: Annotated[
        float | None,
        typer.Option("--max-wait", help="Seconds at most between reads of a growing file."),
    ] = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Keep the store current as sessions grow: catch up, then ingest each changed log once
    it settles (only what is new). Ctrl-C stops it."""
    from memdistill.capture.watch import Watcher
    from memdistill.cli.app import open_memory

    signal.signal(signal.SIGTERM, _interrupt)  # as Ctrl-C: the store closes cleanly
    try:
        with handle_errors(as_json), open_memory(store, tenant, create=True) as memory:
            settings = load_settings(memory, roots=roots, settle=settle, max_wait=max_wait)
            targets = _watch_targets(paths, settings)
            memory.distiller  # bad settings fail before any work  # noqa: B018
            watcher = Watcher(
                memory, targets, settle=settings.settle, max_wait=settings.max_wait,
                on_event=lambda event: _print_event(event, as_json),
            )  # fmt: skip
            if not as_json:
                places = _count(len(targets), "place")
                typer.echo(f"Watching {places} for {memory.store.folder} (Ctrl-C stops):")
                for target in targets:
                    typer.echo(f"  {_short(target.path)}  ({target.kind})")
            watcher.run()
    except KeyboardInterrupt:  # the store is closed by now, its counters written
        if not as_json:
            typer.echo("Stopped.", err=True)


def _watch_targets(paths: list[Path] | None, settings: CaptureSettings) -> list[Target]:
    from memdistill.capture.discover import agent_folders, discover
    from memdistill.capture.watch import Target, targets_for

    if paths:
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise ConfigError(f"no such file or folder: {', '.join(missing)}")
        return targets_for(paths)
    targets = [Target(f.absolute(), "folder") for _, f in agent_folders() if f.is_dir()]
    for found in discover(settings.root_folders(), agents=False).found:
        targets += [Target(p.absolute(), "file") for p in found.paths]
    targets += [Target(f.absolute(), "exports") for f in settings.export_folders() if f.is_dir()]
    if not targets:
        where = ", ".join(_short(f) for _, f in agent_folders())
        raise ConfigError(
            f"nothing to watch: none of the agents' folders exists ({where}); name files or "
            "folders (`memdistill watch PATH`), or project folders with --root"
        )
    return targets


def _print_event(event: WatchEvent, as_json: bool) -> None:
    from memdistill.cli import render

    stamp = time.strftime("%H:%M:%S")
    report = event.report
    if as_json:
        data: dict[str, Any] = {"time": stamp, "event": event.kind, "path": str(event.path)}
        if report is not None:
            data.update(render.report_json(report))
        if event.error:
            data["error"] = event.error
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
        return
    what = "caught up" if event.kind == "caught-up" else "ingested"
    if report is None:
        typer.echo(f"{stamp}  {what} {_short(event.path)}: {event.error}")
        return
    seconds = report.timings.get("total", 0.0)
    typer.echo(f"{stamp}  {what} {_short(event.path)}: {_summary(report)} ({seconds:.1f} s)")
    for problem in report.problems[:5]:
        typer.echo(f"          {problem}", err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
