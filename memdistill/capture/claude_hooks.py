"""memdistill's hook in Claude Code's settings.json: install, uninstall, status.

Claude Code runs a command hook with the event's JSON on stdin (`session_id`,
`transcript_path`, `cwd`, `hook_event_name`; docs: code.claude.com/docs/en/hooks). Ours is
on two events, with no matcher (every occurrence):

- `Stop`: the main agent finished a reply (not after an interrupt), so the store holds
  each exchange moments after it ends and the MCP server sees today's work;
- `SessionEnd`: the session closed (/exit, /clear, logout), which also catches a last turn
  that was interrupted.

The command (`python -m memdistill.capture.hook_run claude-code`) hands the work to a detached
process and exits 0 at once, so Claude Code never waits on an ingest, and never shows an
error: problems go to the store's hook log. `timeout` bounds the hand-over only.

Editing is a merge: the settings keep every other key, their order and indentation;
another hook on the same event stays; installing twice leaves one hook of ours (found by
its command); a malformed file is refused, never rewritten.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memdistill.capture import hook_run
from memdistill.capture.jsonfile import JsonFile
from memdistill.config import DEFAULT_TENANT
from memdistill.errors import ConfigError

AGENT = hook_run.AGENT
EVENTS = ("Stop", "SessionEnd")
TIMEOUT_SECONDS = 30  # the hand-over takes well under a second
_OURS = re.compile(r"\bmemdistill\.capture\.hook_run\s+claude-code\b")


def user_settings() -> Path:
    """~/.claude/settings.json, or under CLAUDE_CONFIG_DIR when Claude Code is told to
    keep its files elsewhere."""
    folder = os.environ.get("CLAUDE_CONFIG_DIR") or "~/.claude"
    return Path(folder).expanduser() / "settings.json"


def project_settings(project: Path) -> Path:
    return project / ".claude" / "settings.json"


def hook_command(store: Path, tenant: str = DEFAULT_TENANT) -> str:
    """The shell command Claude Code runs (it hands it to a shell)."""
    return shlex.join(hook_run.command(store.expanduser().absolute(), tenant))


def is_ours(handler: object) -> bool:
    return (
        isinstance(handler, dict)
        and handler.get("type") == "command"
        and isinstance(handler.get("command"), str)
        and bool(_OURS.search(handler["command"]))
    )


@dataclass
class Change:
    path: Path
    added: list[str]  # events our hook was added to
    updated: list[str]  # events where our hook's command changed (a moved install, a store)
    removed: int = 0  # hooks of ours taken out (uninstall, or duplicates)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def install(path: Path, command: str) -> Change:
    settings = JsonFile.read(path)
    change = Change(path, [], [])
    hooks = _table(settings)
    if hooks is None:
        hooks = settings.data["hooks"] = {}
    for event in EVENTS:
        groups = _groups(hooks, event, path)
        if groups is None:
            groups = hooks[event] = []
        ours = [(group, h) for group in groups for h in _handlers(group, event, path) if is_ours(h)]
        if not ours:
            groups.append({"hooks": [_handler(command)]})
            change.added.append(event)
            continue
        first = ours[0][1]
        if first.get("command") != command or first.get("timeout") != TIMEOUT_SECONDS:
            first["command"], first["timeout"] = command, TIMEOUT_SECONDS
            change.updated.append(event)
        change.removed += _remove(groups, keep=first)
    if change.changed:
        settings.write()
    return change


def uninstall(path: Path) -> Change:
    change = Change(path, [], [])
    if not path.exists():
        return change
    settings = JsonFile.read(path)
    hooks = _table(settings)
    if hooks is None:
        return change
    for event in EVENTS:
        groups = _groups(hooks, event, path)
        if groups is None:
            continue
        removed = _remove(groups, keep=None)
        change.removed += removed
        if removed and not groups:
            del hooks[event]  # emptied by us; a list the person left empty stays
    if change.removed and not hooks:
        del settings.data["hooks"]
    if change.changed:
        settings.write()
    return change


def installed(path: Path) -> dict[str, str]:
    """Event -> the command of our hook there, as the file says now."""
    if not path.exists():
        return {}
    settings = JsonFile.read(path)
    hooks = _table(settings)
    found: dict[str, str] = {}
    for event in EVENTS:
        groups = _groups(hooks, event, path) if hooks is not None else None
        for group in groups or []:
            for handler in _handlers(group, event, path):
                if is_ours(handler):
                    found.setdefault(event, handler["command"])
    return found


def command_store(command: str) -> Path | None:
    """The store a hook command ingests into (its --store)."""
    words = shlex.split(command)
    if "--store" in words[:-1]:
        return Path(words[words.index("--store") + 1])
    return None


def _handler(command: str) -> dict[str, Any]:
    return {"type": "command", "command": command, "timeout": TIMEOUT_SECONDS}


def _table(settings: JsonFile) -> dict[str, Any] | None:
    hooks = settings.data.get("hooks")
    if hooks is not None and not isinstance(hooks, dict):
        raise _shape(settings.path, "hooks", "an object", hooks)
    return hooks


def _groups(hooks: dict[str, Any], event: str, path: Path) -> list[Any] | None:
    groups = hooks.get(event)
    if groups is not None and not isinstance(groups, list):
        raise _shape(path, f"hooks.{event}", "a list", groups)
    return groups


def _handlers(group: object, event: str, path: Path) -> list[Any]:
    if not isinstance(group, dict):
        raise _shape(path, f"an entry of hooks.{event}", "an object", group)
    handlers = group.get("hooks", [])
    if not isinstance(handlers, list):
        raise _shape(path, f"hooks.{event}[].hooks", "a list", handlers)
    return handlers


def _remove(groups: list[Any], *, keep: object) -> int:
    """Take our handlers (except `keep`) out of `groups`; a group left with none goes."""
    removed = 0
    emptied: list[int] = []
    for index, group in enumerate(groups):
        handlers = group.get("hooks", [])
        kept = [h for h in handlers if not is_ours(h) or h is keep]
        if len(kept) == len(handlers):
            continue
        removed += len(handlers) - len(kept)
        group["hooks"] = kept
        if not kept:
            emptied.append(index)
    groups[:] = [g for i, g in enumerate(groups) if i not in emptied]
    return removed


def _shape(path: Path, key: str, expected: str, value: object) -> ConfigError:
    return ConfigError(
        f"{path}: `{key}` is {type(value).__name__}, not {expected} as Claude Code expects; "
        "fix it and run this again: memdistill did not change the file"
    )
