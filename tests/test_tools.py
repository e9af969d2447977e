"""What a tool call ran: one helper for every agent's shell tool shape."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest

from memdistill.distill.offline import OfflineDistiller
from memdistill.exchanges import split_exchanges
from memdistill.sources import detect_parser
from memdistill.sources.common import tool_call_text
from memdistill.tools import SHELL_TOOLS, command_line, is_shell_tool, shell_command

REPO = Path(__file__).resolve().parents[1]
PATCH = "*** Begin Patch\n*** Update File: a.py\n@@\n-x = 1\n+x = 2\n*** End Patch"

# (tool name, tool input, shell_command's answer)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    # a string under command or cmd, any shell tool name, any case
    ("Bash", {"command": "ruff check .", "description": "lint"}, "ruff check ."),
    ("bash", {"command": "ls -la"}, "ls -la"),
    ("shell_command", {"command": "pytest -q", "workdir": "/w"}, "pytest -q"),
    ("exec_command", {"cmd": "cat /etc/hosts"}, "cat /etc/hosts"),
    ("run_terminal_cmd", {"command": "npm test", "is_background": False}, "npm test"),
    ("Terminal", {"command": "make"}, "make"),
    ("execute_command", {"command": "go test ./..."}, "go test ./..."),
    ("run_shell_command", {"command": "cargo build"}, "cargo build"),
    ("run_in_terminal", {"command": "dotnet test"}, "dotnet test"),
    # argv lists, and Codex's wrapper unwrapped
    ("shell", {"command": ["bash", "-lc", "ruff check ."]}, "ruff check ."),
    ("shell", {"command": ["/bin/bash", "-c", "a && b"]}, "a && b"),
    ("shell", {"command": ["zsh", "-l", "-c", "echo hi"]}, "echo hi"),
    ("shell", {"command": ["bash", "--login", "-c", "echo hi"]}, "echo hi"),
    ("shell", {"command": ["rg", "-n", "round\\(", "src"]}, "rg -n 'round\\(' src"),
    ("shell", {"command": ["python3", "-c", "print('x')"]}, "python3 -c \"print('x')\""),
    ("shell", {"command": ["echo", "it's $HOME"]}, "echo 'it'\"'\"'s $HOME'"),
    ("container.exec", {"cmd": ["bash", "-lc", "ls /mnt/data"]}, "ls /mnt/data"),
    ("shell", {"command": ["bash", "-lc", "bash -c 'nested'"]}, "nested"),
    # a wrapped string
    ("Bash", {"command": "bash -lc 'ruff check .'"}, "ruff check ."),
    ("Bash", {"command": 'sh -c "cd src && make"'}, "cd src && make"),
    ("Bash", {"command": "/usr/bin/bash -c 'x'"}, "x"),
    # ... but not a command that only starts with one
    ("Bash", {"command": "bash -c 'x' && echo done"}, "bash -c 'x' && echo done"),
    ("Bash", {"command": "bash script.sh"}, "bash script.sh"),
    ("Bash", {"command": "bash -lc 'unclosed"}, "bash -lc 'unclosed"),
    ("Bash", {"command": "shellcheck -x a.sh"}, "shellcheck -x a.sh"),
    ("shell", {"command": ["bash", "-lc"]}, "bash -lc"),
    ("shell", {"command": ["bash", "-x", "run.sh"]}, "bash -x run.sh"),
    # Codex local_shell_call: the action is the input, or nested under "action"
    ("local_shell", {"type": "exec", "command": ["cat", "a.py"]}, "cat a.py"),
    ("local_shell", {"action": {"type": "exec", "command": ["bash", "-lc", "ls"]}}, "ls"),
    # a multi-line script is kept whole
    ("Bash", {"command": "cd /w\npytest -q"}, "cd /w\npytest -q"),
    # a patch through the shell tool is an edit, not a command
    ("shell", {"command": ["apply_patch", PATCH]}, None),
    ("shell", {"command": ["bash", "-lc", f"apply_patch <<'EOF'\n{PATCH}\nEOF"]}, None),
    ("exec_command", {"cmd": f"apply_patch<<'EOF'\n{PATCH}\nEOF"}, None),
    # no command
    ("Bash", {"description": "nothing"}, None),
    ("Bash", {"command": 42}, None),
    ("shell", {"command": ["ls", 3]}, None),
    # not shell tools
    ("apply_patch", {"input": PATCH}, None),
    ("Read", {"file_path": "/w/a.py"}, None),
    ("Write", {"file_path": "/w/a.py", "content": "x"}, None),
    ("str_replace_based_edit_tool", {"command": "view", "path": "/w/a.py"}, None),
    ("run_shell", {"command": "ls"}, None),  # an app's own function: its JSON is kept
    ("python", {"code": "print(1)"}, None),
]


@pytest.mark.parametrize(
    ("name", "tool_input", "expected"), CASES, ids=[f"{n}:{str(i)[:40]}" for n, i, _ in CASES]
)
def test_shell_command(name: str, tool_input: dict[str, Any], expected: str | None) -> None:
    assert shell_command(name, tool_input) == expected


@pytest.mark.parametrize(
    ("name", "tool_input", "expected"), CASES, ids=[f"{n}:{str(i)[:40]}" for n, i, _ in CASES]
)
def test_command_line_agrees_and_keeps_patches(
    name: str, tool_input: dict[str, Any], expected: str | None
) -> None:
    line = command_line(name, tool_input)
    if expected is not None:
        assert line == expected or shlex.split(line or "") == shlex.split(expected)
    elif is_shell_tool(name) and "apply_patch" in str(tool_input):
        assert line is not None and line.lstrip().startswith("apply_patch")  # what ran
    else:
        assert line is None


def test_joined_argv_reads_back_as_the_same_words() -> None:
    for argv in (
        ["python3", "-c", "from d import *; print(D('1.0'))"],
        ["echo", "it's", '"quoted"', "$HOME", "a b", "", "x!"],
        ["printf", "%s\\n", "`cmd`"],
    ):
        line = shell_command("shell", {"command": argv})
        assert line is not None and shlex.split(line) == argv


def test_shell_tool_names_are_lowercase_and_case_insensitive() -> None:
    assert all(name == name.lower() for name in SHELL_TOOLS)
    assert is_shell_tool("BASH") and is_shell_tool("Container.Exec")
    assert not is_shell_tool("apply_patch")


def test_tool_call_text_is_the_command_line() -> None:
    assert tool_call_text("shell", {"command": ["bash", "-lc", "ls -a"]}) == "ls -a"
    argv = ["python3", "-c", "print('x')"]  # message text keeps its shlex.join rendering
    assert tool_call_text("local_shell", {"command": argv}) == shlex.join(argv)
    assert tool_call_text("Bash", {"command": "ls"}) == "ls"
    patch = tool_call_text("shell", {"command": ["apply_patch", PATCH]})
    assert patch.startswith("apply_patch '*** Begin Patch")
    assert tool_call_text("Read", {"file_path": "a.py"}) == '{"file_path": "a.py"}'


def test_codex_sample_specific_context_is_a_real_command() -> None:
    path = next((REPO / "data" / "samples" / "codex").glob("*.jsonl"))
    conversations = list(detect_parser(path).parse(path, lambda problem: None))
    exchanges = [e for c in conversations for e in split_exchanges(c)]
    assert exchanges
    distiller = OfflineDistiller()
    contexts = [distiller.distill(e).specific_context for e in exchanges]
    assert not [c for c in contexts if c.startswith(("bash -lc", "apply_patch"))], contexts
    # the wrapped command itself is what is kept
    assert "grep -n -A2 'optional-dependencies' pyproject.toml && command -v ruff" in contexts
