"""Turning library results into text for people or JSON for programs."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer

from memdistill.exchanges import render_message
from memdistill.models import Hit, Message

if TYPE_CHECKING:  # the heavy modules load when a command needs them, not for --help
    from memdistill.ingest import IngestReport
    from memdistill.store.summary import RoomInfo, Stats


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=_default))


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "no time"


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "exchange_id": hit.exchange_id,
        "score": hit.score,
        "ranks": hit.ranks,
        "exchange_core": hit.memory.exchange_core,
        "specific_context": hit.memory.specific_context,
        "room_assignments": [asdict(r) for r in hit.rooms],
        "files_touched": [asdict(f) for f in hit.files],
        "distiller": hit.memory.distiller,
        "distiller_note": hit.memory.note or None,
        "project": hit.project,
        "conversation_id": hit.conversation_id,
        "started_at": hit.started_at,
        "source_message_ids": hit.source_message_ids,
        "supersedes": hit.supersedes,
        "merged": hit.merged,
    }


def print_hits(hits: list[Hit]) -> None:
    if not hits:
        typer.echo("No matches.")
        return
    for n, hit in enumerate(hits, start=1):
        ranks = " ".join(f"{layer}#{rank}" for layer, rank in hit.ranks.items())
        head = (
            f"{n:>2}. [{hit.exchange_id}] {hit.score:.4f}  {hit.project}  {_when(hit.started_at)}"
        )
        typer.echo(f"{head}  ({ranks})" if ranks else head)
        typer.echo(f"    {hit.memory.exchange_core}")
        if hit.memory.specific_context:
            typer.echo(f"    ↳ {hit.memory.specific_context}")
        details = []
        if hit.rooms:
            details.append("rooms: " + ", ".join(r.key for r in hit.rooms))
        if hit.files:
            details.append("files: " + ", ".join(f"{f.path} ({f.action})" for f in hit.files[:5]))
        if details:
            typer.echo("    " + "   ".join(details))
        if hit.supersedes:
            typer.echo("    supersedes: " + ", ".join(f"[{i}]" for i in hit.supersedes))
        if hit.merged:
            typer.echo("    also said in: " + ", ".join(f"[{i}]" for i in hit.merged))
    typer.echo("\n`memdistill show ID` prints an exchange verbatim.")


def message_json(message: Message) -> dict[str, Any]:
    return {
        "source_id": message.source_id,
        "role": message.role,
        "kind": message.kind,
        "text": message.text,
        "timestamp": message.timestamp,
        "tool": asdict(message.tool) if message.tool else None,
        "line": message.line,
    }


def print_exchange(hit: Hit, messages: list[Message]) -> None:
    typer.echo(
        f"Exchange {hit.exchange_id} · {hit.project} · conversation "
        f"{hit.conversation_id} · {_when(hit.started_at)}"
    )
    typer.echo(f"Core: {hit.memory.exchange_core}")
    if hit.memory.specific_context:
        typer.echo(f"Context: {hit.memory.specific_context}")
    distiller = hit.memory.distiller
    typer.echo(f"Distiller: {distiller}" + (f" ({hit.memory.note})" if hit.memory.note else ""))
    typer.echo("")
    for message in messages:
        stamp = f" [{message.source_id}]"
        typer.echo(render_message(message) + stamp + "\n")


def print_rooms(rooms: list[RoomInfo]) -> None:
    if not rooms:
        typer.echo("No rooms yet: ingest some chat logs first.")
        return
    for room in rooms:
        span = f"{_when(room.first_at)} .. {_when(room.last_at)}"
        typer.echo(f"{room.exchanges:>5}  {room.key}  ({room.label}; {room.project}; {span})")


def print_stats(stats: Stats, store: str) -> None:
    typer.echo(f"Store: {store}")
    typer.echo(
        f"Sources: {stats.sources}   Conversations: {stats.conversations}   "
        f"Exchanges: {stats.exchanges}   Messages: {stats.messages}   Rooms: {stats.rooms}"
    )
    typer.echo(
        f"Tokens: verbatim {stats.verbatim_tokens:,}  distilled {stats.distilled_tokens:,}"
        f"  compression {stats.compression:.1f}x overall, per exchange mean "
        f"{stats.compression_mean:.1f}x median {stats.compression_median:.1f}x"
    )
    typer.echo(
        f"Embedder: {stats.embedder or 'none yet'}   Distillers: "
        + (", ".join(f"{k} ({v})" for k, v in stats.distillers.items()) or "none yet")
    )
    inactive = {k: v for k, v in stats.statuses.items() if k != "active"}
    if inactive:
        typer.echo(
            "Out of the indexes (kept): "
            + ", ".join(f"{n} {status}" for status, n in inactive.items())
            + "   (`memdistill history ID` says why)"
        )
    for project, count in list(stats.projects.items())[:20]:
        typer.echo(f"  {count:>6}  {project}")


def print_report(report: IngestReport) -> None:
    forgotten = report.exchanges_forgotten_skipped
    typer.echo(
        f"Files: {report.files} ({report.files_unchanged} unchanged, {report.files_failed} "
        f"failed, {report.files_skipped} not chat logs)   "
        f"Conversations: {report.conversations}   Exchanges: "
        f"{report.exchanges_added} added, {report.exchanges_updated} updated, "
        f"{report.exchanges_skipped} already stored"
        + (f", {forgotten} forgotten (not written back)" if forgotten else "")
        + f"   ({report.timings.get('total', 0.0):.1f} s)"
    )
    if report.internal:
        whys = Counter(conversation.why for conversation in report.internal)
        typer.echo(
            f"Internal agents: {len(report.internal)} stored, not indexed ("
            + ", ".join(f"{n} {why}" for why, n in whys.most_common())
            + ")"
        )
    if report.skipped:
        typer.echo(f"Not chat logs, skipped ({len(report.skipped)}):")
        for skipped in report.skipped[:50]:
            typer.echo(f"  {skipped}")
        if len(report.skipped) > 50:
            typer.echo(f"  ... and {len(report.skipped) - 50} more (--json lists all)")
    if report.llm:
        print_llm_account(report.llm)
    if report.problems:
        typer.echo(f"Problems ({len(report.problems)}):", err=True)
        for problem in report.problems[:50]:
            typer.echo(f"  {problem}", err=True)
        if len(report.problems) > 50:
            typer.echo(f"  ... and {len(report.problems) - 50} more (--json lists all)", err=True)


def print_llm_account(spent: dict[str, Any]) -> None:
    cost = spent.get("cost_usd")
    typer.echo(
        f"LLM {spent['distiller']}: {spent['memories']} memories, {spent['requests']} requests, "
        f"{spent['prompt_tokens']:,} tokens in, {spent['completion_tokens']:,} out, "
        f"{spent['cache_hits']} from cache, {spent['fallbacks']} distilled offline instead"
        + (f", about ${cost:.4f}" if cost is not None else "")
    )
    for reason, n in sorted(spent.get("fallback_reasons", {}).items(), key=lambda kv: -kv[1]):
        typer.echo(f"  offline fallback x{n}: {reason}", err=True)


def report_json(report: IngestReport) -> dict[str, Any]:
    data = asdict(report)
    data["problems"] = [str(p) for p in report.problems]
    data["skipped"] = [{"path": p.path, "why": p.message} for p in report.skipped]
    return data
