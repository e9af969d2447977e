"""`memdistill hooks`: have Claude Code hand each session to memdistill as it stops."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from memdistill.cli.app import DEFAULT_TENANT, JsonOpt, StoreOpt, TenantOpt, handle_errors
from memdistill.errors import ConfigError

hooks_app = typer.Typer(
    name="hooks",
    help="Agent hooks that ingest each session as it stops (Claude Code), so the MCP "
    "server sees today's work.",
    no_args_is_help=True,
)

AgentArg = Annotated[str, typer.Argument(help="The agent: claude-code.")]
ProjectDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        help="Only this project: PROJECT/.claude/settings.local.json (personal, not "
        "committed; the hook names this machine's paths) instead of ~/.claude/settings.json.",
    ),
]


def _settings_path(agent: str, project: Path | None) -> Path:
    from memdistill.capture import claude_hooks

    if agent != claude_hooks.AGENT:
        raise ConfigError(f"no hook for {agent!r}; hooks exist for: {claude_hooks.AGENT}")
    if project is None:
        return claude_hooks.user_settings()
    if not project.is_dir():
        raise ConfigError(f"--project {project}: no such folder")
    return project.absolute() / ".claude" / "settings.local.json"


def _store_folder(store: Path | None) -> Path:
    from memdistill.config import resolve_store_path

    return resolve_store_path(store).absolute()


@hooks_app.command()
def install(
    agent: AgentArg,
    project: ProjectDirOpt = None,
    store: StoreOpt = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    as_json: JsonOpt = False,
) -> None:
    """Add memdistill's hook (on Stop and SessionEnd) to Claude Code's settings, merged
    with what is there; installing again changes nothing."""
    from memdistill.capture import claude_hooks
    from memdistill.capture.hook_run import log_path
    from memdistill.config import check_tenant

    with handle_errors(as_json):
        path = _settings_path(agent, project)
        folder = _store_folder(store)
        command = claude_hooks.hook_command(folder, check_tenant(tenant))
        change = claude_hooks.install(path, command)
        if as_json:
            from memdistill.cli.render import emit_json

            emit_json({"settings": str(path), "command": command, "store": str(folder),
                       "added": change.added, "updated": change.updated,
                       "duplicates_removed": change.removed})  # fmt: skip
            return
        if not change.changed:
            typer.echo(f"Already installed in {path} (nothing changed).")
            return
        verb = "Installed" if change.added else "Updated"
        events = ", ".join(change.added + change.updated) or ", ".join(claude_hooks.EVENTS)
        typer.echo(f"{verb} memdistill's Claude Code hook in {path} ({events}):")
        typer.echo(f"  {command}")
        typer.echo(
            f"Each reply Claude Code finishes is ingested in the background into {folder};\n"
            f"what each run did (and any error) goes to {log_path(folder)}.\n"
            "Claude Code reads hooks at start: sessions already open need /hooks or a restart."
        )


@hooks_app.command()
def uninstall(
    agent: AgentArg,
    project: ProjectDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove memdistill's hook from Claude Code's settings (nothing else)."""
    from memdistill.capture import claude_hooks

    with handle_errors(as_json):
        path = _settings_path(agent, project)
        change = claude_hooks.uninstall(path)
        if as_json:
            from memdistill.cli.render import emit_json

            emit_json({"settings": str(path), "removed": change.removed})
        elif change.removed:
            typer.echo(f"Removed memdistill's hook from {path} ({change.removed} entries).")
        else:
            typer.echo(f"No memdistill hook in {path}: nothing changed.")


@hooks_app.command()
def status(
    project: ProjectDirOpt = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="Log lines to show.")] = 5,
    as_json: JsonOpt = False,
) -> None:
    """Where memdistill's hook is installed, the store it ingests into, its last runs."""
    from memdistill.capture import claude_hooks
    from memdistill.capture.hook_run import log_path

    with handle_errors(as_json):
        places = [claude_hooks.user_settings()]
        local = (project or Path.cwd()).absolute() / ".claude" / "settings.local.json"
        if project is not None or local.exists():
            places.append(local)
        report: list[dict[str, Any]] = []
        for path in places:
            found = claude_hooks.installed(path)
            commands = sorted(set(found.values()))
            stores = [claude_hooks.command_store(c) for c in commands]
            report.append({
                "settings": str(path), "events": sorted(found), "commands": commands,
                "stores": [str(s) for s in stores if s],
                "problems": [p for c in commands if (p := _command_problem(c))],
                "log": [line for s in stores if s for line in _tail(log_path(s), lines)],
            })  # fmt: skip
        if as_json:
            from memdistill.cli.render import emit_json

            emit_json(report)
            return
        for entry in report:
            if not entry["events"]:
                typer.echo(f"Not installed in {entry['settings']}.")
                continue
            typer.echo(f"Installed in {entry['settings']} ({', '.join(entry['events'])}).")
            for command in entry["commands"]:
                typer.echo(f"  command: {command}")
            for problem in entry["problems"]:
                typer.echo(f"  problem: {problem}")
            for line in entry["log"]:
                typer.echo(f"  log: {line}")


def _command_problem(command: str) -> str | None:
    """What would stop a hook command from running (a venv moved or deleted)."""
    words = shlex.split(command)
    if words and not Path(words[0]).exists():
        return f"{words[0]} no longer exists: run `memdistill hooks install claude-code` again"
    return None


def _tail(path: Path, count: int) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(handle.tell() - 64 * 1024, 0))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-count:] if count > 0 else []
