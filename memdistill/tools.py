"""What a tool call ran: the command line of a shell tool call, whatever the agent's shape.

Agents name their shell tool differently (`Bash`, `shell`, `local_shell`, `exec_command`,
`run_terminal_cmd`, `container.exec`...) and pass the command differently: a string or an
argv list under `command` or `cmd`, or under `action.command` (Codex's `local_shell_call`);
Codex wraps command lines in `["bash", "-lc", "..."]`. Both functions undo all of that:
`shell_command` gives what ran as a person would have typed it, or None when the call
only applied a patch (`apply_patch` through the shell tool is an edit, not a command);
`command_line` is the message text parsers store (patches kept, argv `shlex.join`ed).
Every other tool (Read, Write, apply_patch, ...) gives None.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

# Tool names whose input is a command line, lowercased (names are compared lowercased).
SHELL_TOOLS = frozenset(
    {
        "bash",  # Claude Code
        "shell",  # Codex (older): {"command": ["bash", "-lc", "..."]}
        "local_shell",  # Codex local_shell_call: {"type": "exec", "command": [...]}
        "shell_command",  # Codex (newer): {"command": "..."}
        "exec_command",  # Codex unified exec: {"cmd": "..."}
        "container.exec",  # ChatGPT: {"cmd": ["bash", "-lc", "..."]}
        "run_terminal_cmd",  # Cursor
        "terminal",
        "execute_command",  # Cline, Roo Code
        "run_shell_command",  # Gemini CLI
        "run_in_terminal",  # GitHub Copilot
    }
)

# Shells whose `-c SCRIPT` form wraps a command line: ["bash", "-lc", "ruff check ."].
_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_WRAPPED = re.compile(r"\s*(?:\S*/)?(?:ba|z|da|k)?sh\s+-")  # cheap test before shlex
_MAX_UNWRAP_CHARS = 100_000  # shlex is pure Python: a huge script is left as it is
_PATCH_PROGRAMS = frozenset({"apply_patch", "applypatch"})
_PLAIN_IN_DOUBLE_QUOTES = re.compile(r'[^"$`\\!]*')
_FIRST_WORD = re.compile(r"\s*([^\s<>|;&()]+)")


def is_shell_tool(name: str) -> bool:
    return name.lower() in SHELL_TOOLS


def command_line(name: str, tool_input: Mapping[str, Any]) -> str | None:
    """A shell tool call's command line as its message text, or None when the tool is not
    a shell or its input holds no command: wrappers removed, an argv list `shlex.join`ed
    (the stable rendering stored messages were written with; patches included)."""
    argv = _argv(name, tool_input)
    if argv is None:
        return None
    return argv if isinstance(argv, str) else shlex.join(argv)


def shell_command(name: str, tool_input: Mapping[str, Any]) -> str | None:
    """What a shell tool call ran, as a person would have typed it (an argv word holding a
    single quote is double-quoted where that is safe), or None when it ran nothing, only
    applied a patch, or the tool is not a shell."""
    argv = _argv(name, tool_input)
    if argv is None or _program(argv) in _PATCH_PROGRAMS:
        return None
    return argv if isinstance(argv, str) else " ".join(_quoted(word) for word in argv)


def _argv(name: str, tool_input: Mapping[str, Any]) -> str | list[str] | None:
    """The command as a string or an argv list, unwrapped, or None."""
    if not is_shell_tool(name):
        return None
    command = tool_input.get("command")
    if command is None:
        command = tool_input.get("cmd")
    if command is None and isinstance(tool_input.get("action"), Mapping):
        command = tool_input["action"].get("command")  # Codex local_shell, nested
    if isinstance(command, list) and all(isinstance(part, str) for part in command):
        return _unwrap(command)
    if isinstance(command, str):
        return _unwrap(command)
    return None


def _unwrap(command: str | list[str]) -> str | list[str]:
    """`bash -lc "X"`, `sh -c 'X'` or ["bash", "-lc", "X"] -> X (nested wrappers too)."""
    for _ in range(3):
        if isinstance(command, str):
            if len(command) > _MAX_UNWRAP_CHARS or not _WRAPPED.match(command):
                return command
            try:
                argv = shlex.split(command)
            except ValueError:  # an unclosed quote: not one wrapped script
                return command
        else:
            argv = command
        script = _wrapped_script(argv)
        if script is None:
            return command
        command = script
    return command


def _wrapped_script(argv: list[str]) -> str | None:
    """The script of `SHELL [-OPTIONS...] -c SCRIPT`, or None when argv is not that form."""
    if len(argv) < 3 or argv[0].rpartition("/")[2] not in _SHELLS:
        return None
    options = argv[1:-1]
    if not all(o.startswith("-") for o in options):
        return None
    if not any(not o.startswith("--") and "c" in o for o in options):
        return None
    return argv[-1]


def _quoted(word: str) -> str:
    """`shlex.quote`, but a word with a single quote and nothing that double quotes would
    expand is double-quoted."""
    if "'" in word and _PLAIN_IN_DOUBLE_QUOTES.fullmatch(word):
        return f'"{word}"'  # python3 -c "print('x')", not 'print('"'"'x'"'"')'
    return shlex.quote(word)


def _program(argv: str | list[str]) -> str:
    """The program's name: the first word, without its folder."""
    if isinstance(argv, list):
        first = argv[0] if argv else ""
    else:
        found = _FIRST_WORD.match(argv)
        first = found.group(1) if found else ""
    return first.rpartition("/")[2]
