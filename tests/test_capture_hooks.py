"""`memdistill hooks`: Claude Code's settings.json merged (never clobbered), and the
installed hook command run for real with a hook event on stdin, on a temporary home."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memdistill.capture import claude_hooks
from memdistill.capture.hook_run import log_path
from memdistill.capture.jsonfile import JsonFile
from memdistill.cli import app
from memdistill.errors import ConfigError

runner = CliRunner()

# A person's settings as Claude Code writes them, with their own hooks and other keys.
USER_SETTINGS = {
    "$schema": "https://json.schemastore.org/claude-code-settings.json",
    "model": "opus",
    "permissions": {"allow": ["Bash(npm run lint)", "Read(~/.zshrc)"], "deny": []},
    "hooks": {
        "Stop": [{"hooks": [{"type": "command", "command": "afplay /System/Library/Ping.aiff"}]}],
        "PostToolUse": [
            {
                "matcher": "Edit|Write",
                "hooks": [{"type": "command", "command": 'npx prettier --write "$FILE"'}],
            }
        ],
    },
    "statusLine": {"type": "command", "command": "~/.claude/statusline.sh"},
    "env": {"DISABLE_TELEMETRY": "1"},
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("CLAUDE_CONFIG_DIR", raising=False)
    return folder


def write_settings(home: Path, data: object, indent: int | str = 2) -> Path:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_install_merges_keeps_order_indent_and_other_hooks(home: Path, tmp_path: Path) -> None:
    path = write_settings(home, USER_SETTINGS, indent=4)
    code, out = invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "store"))
    assert code == 0, out
    assert "Installed" in out and "Stop, SessionEnd" in out
    text = path.read_text()
    data = json.loads(text)
    assert list(data) == list(USER_SETTINGS)  # key order kept, nothing dropped
    assert {k: v for k, v in data.items() if k != "hooks"} == {
        k: v for k, v in USER_SETTINGS.items() if k != "hooks"
    }
    assert data["hooks"]["PostToolUse"] == USER_SETTINGS["hooks"]["PostToolUse"]
    stop = data["hooks"]["Stop"]
    assert stop[0] == USER_SETTINGS["hooks"]["Stop"][0]  # the person's own Stop hook stays first
    ours = stop[1]["hooks"][0]
    assert ours["type"] == "command" and ours["timeout"] == claude_hooks.TIMEOUT_SECONDS
    assert "memdistill.capture.hook_run claude-code --store" in ours["command"]
    assert data["hooks"]["SessionEnd"] == [{"hooks": [ours]}]
    assert text.startswith('{\n    "$schema"') and text.endswith("}\n")  # 4 spaces, newline


def test_install_twice_adds_one_hook_and_uninstall_removes_only_ours(
    home: Path, tmp_path: Path
) -> None:
    path = write_settings(home, USER_SETTINGS)
    original = path.read_text()
    store = str(tmp_path / "store")
    assert invoke("hooks", "install", "claude-code", "--store", store)[0] == 0
    once = path.read_text()
    code, out = invoke("hooks", "install", "claude-code", "--store", store)
    assert code == 0 and "Already installed" in out
    assert path.read_text() == once
    commands = [h["command"] for g in json.loads(once)["hooks"]["Stop"] for h in g["hooks"]]
    assert sum("memdistill" in c for c in commands) == 1

    code, out = invoke("hooks", "uninstall", "claude-code")
    assert code == 0 and "Removed" in out
    assert path.read_text() == original  # byte for byte what the person had
    code, out = invoke("hooks", "uninstall", "claude-code")
    assert code == 0 and "nothing changed" in out


def test_uninstall_of_a_fresh_install_leaves_no_empty_tables(home: Path, tmp_path: Path) -> None:
    path = write_settings(home, {"model": "sonnet"})
    assert invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "s"))[0] == 0
    assert invoke("hooks", "uninstall", "claude-code")[0] == 0
    assert json.loads(path.read_text()) == {"model": "sonnet"}


def test_install_into_no_settings_file_creates_it(home: Path, tmp_path: Path) -> None:
    code, out = invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "s"))
    assert code == 0, out
    data = json.loads((home / ".claude" / "settings.json").read_text())
    assert set(data["hooks"]) == {"Stop", "SessionEnd"}


def test_install_updates_a_moved_store_in_place(home: Path, tmp_path: Path) -> None:
    path = write_settings(home, USER_SETTINGS)
    invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "one"))
    code, out = invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "two"))
    assert code == 0 and "Updated" in out
    stop = json.loads(path.read_text())["hooks"]["Stop"]
    ours = [h["command"] for g in stop for h in g["hooks"] if claude_hooks.is_ours(h)]
    assert len(ours) == 1 and str(tmp_path / "two") in ours[0]


def test_malformed_settings_are_refused_and_left_alone(home: Path, tmp_path: Path) -> None:
    path = home / ".claude" / "settings.json"
    path.parent.mkdir()
    broken = '{\n  "model": "opus",\n  "hooks": {\n    "Stop": [\n  }\n'
    path.write_text(broken)
    code, out = invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "s"))
    assert code == 1
    assert f"{path}:5:" in out and "not valid JSON" in out and "did not change" in out
    assert path.read_text() == broken
    assert invoke("hooks", "uninstall", "claude-code")[0] == 1
    assert path.read_text() == broken


def test_settings_of_the_wrong_shape_are_refused(home: Path, tmp_path: Path) -> None:
    path = write_settings(home, {"hooks": {"Stop": {"command": "x"}}})
    before = path.read_text()
    code, out = invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "s"))
    assert code == 1 and "`hooks.Stop` is dict, not a list" in out
    assert path.read_text() == before
    path.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match="not an object"):
        claude_hooks.install(path, "x")


def test_a_symlinked_settings_file_stays_a_link(home: Path, tmp_path: Path) -> None:
    dotfiles = tmp_path / "dotfiles" / "claude-settings.json"
    dotfiles.parent.mkdir()
    dotfiles.write_text(json.dumps({"model": "opus"}, indent="\t") + "\n")
    link = home / ".claude" / "settings.json"
    link.parent.mkdir()
    link.symlink_to(dotfiles)
    assert invoke("hooks", "install", "claude-code", "--store", str(tmp_path / "s"))[0] == 0
    assert link.is_symlink()
    text = dotfiles.read_text()
    assert "memdistill.capture.hook_run" in text and '\n\t"model"' in text  # tabs kept


def test_json_style_is_read_from_the_file(tmp_path: Path) -> None:
    for text, indent, newline in (
        ('{"a": 1}', None, False),
        ('{\n"a": 1\n}\n', "", True),
        ('{\n   "a": {\n      "b": 1\n   }\n}', "   ", False),
    ):
        path = tmp_path / "s.json"
        path.write_text(text)
        settings = JsonFile.read(path)
        assert (settings.style.indent, settings.style.final_newline) == (indent, newline)
        settings.write()
        assert path.read_text() == text


def test_project_install_writes_the_local_settings(tmp_path: Path, home: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    code, out = invoke(
        "hooks", "install", "claude-code", "--project", str(project), "--store", str(tmp_path)
    )
    assert code == 0, out
    assert (project / ".claude" / "settings.local.json").exists()
    assert not (home / ".claude" / "settings.json").exists()
    code, out = invoke("hooks", "status", "--project", str(project), "--json")
    entries = json.loads(out)
    assert [e["events"] for e in entries] == [[], ["SessionEnd", "Stop"]]


def test_unknown_agent_is_refused(home: Path) -> None:
    code, out = invoke("hooks", "install", "cursor")
    assert code == 1 and "hooks exist for: claude-code" in out


def _hook_command(home: Path) -> str:
    data = json.loads((home / ".claude" / "settings.json").read_text())
    return str(data["hooks"]["Stop"][0]["hooks"][0]["command"])


def _run_hook(command: str, event: object, env: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    done = subprocess.run(
        ["/bin/sh", "-c", command],  # Claude Code hands the command to a shell
        input=json.dumps(event) if not isinstance(event, str) else event,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.stdout == "" and done.stderr == ""  # nothing on Claude Code's screen
    return done.returncode, time.perf_counter() - started


def _wait_for_log(store: Path, needle: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path(store).read_text() if log_path(store).exists() else ""
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"no {needle!r} in the hook log after {timeout} s:\n{text}")


def test_installed_hook_ingests_the_session_in_the_background(
    home: Path, tmp_path: Path, fixtures: Path
) -> None:
    """The command as installed, run as Claude Code runs it: exits 0 at once; the detached
    ingest stores the session; a session that grew adds its new exchange; bad input is
    logged, never shown."""
    store = tmp_path / "store"
    assert invoke("hooks", "install", "claude-code", "--store", str(store))[0] == 0
    command = _hook_command(home)
    assert shlex.split(command)[0] == sys.executable

    session = home / ".claude" / "projects" / "-home-dev-invoice-app" / "7f0c2a9e.jsonl"
    session.parent.mkdir(parents=True)
    lines = (fixtures / "sources" / "claude-code-session.jsonl").read_text().splitlines()
    session.write_text("\n".join(lines[:14]) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "MEMDISTILL_HOME"}  # Claude Code's env
    event = {
        "session_id": "7f0c2a9e",
        "transcript_path": str(session),
        "cwd": "/home/dev/invoice-app",
        "permission_mode": "default",
        "hook_event_name": "Stop",
        "stop_hook_active": False,
    }
    code, _ = _run_hook(command, event, env)
    assert code == 0
    log = _wait_for_log(store, "Stop session 7f0c2a9e: ")
    assert "exchanges added" in log, log

    from memdistill.api import Memory

    with Memory.open(store, create=False) as memory:
        first = memory.stats().exchanges
    assert first >= 1

    session.write_text("\n".join(lines) + "\n")  # the session went on
    code, _ = _run_hook(command, {**event, "hook_event_name": "SessionEnd", "reason": "exit"}, env)
    assert code == 0
    _wait_for_log(store, "SessionEnd session 7f0c2a9e: ")
    with Memory.open(store, create=False) as memory:
        assert memory.stats().exchanges > first
        hits = memory.search("cent rounding discount invoice total", k=3)
        assert hits and hits[0].project

    code, _ = _run_hook(command, {**event, "hook_event_name": "Stop"}, env)
    _wait_for_log(store, "unchanged")  # nothing loaded, nothing written

    for bad in ("not json", json.dumps({"session_id": "x"}), json.dumps({**event, "x": 1})[:-9]):
        code, _ = _run_hook(command, bad, env)
        assert code == 0
    missing = {**event, "transcript_path": str(tmp_path / "gone.jsonl")}
    assert _run_hook(command, missing, env)[0] == 0
    log = _wait_for_log(store, "no transcript at")
    assert "hook input is not JSON" in log and "names no transcript_path" in log


def test_hook_with_an_unusable_store_still_exits_0(home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the store folder should be")
    command = claude_hooks.hook_command(blocker / "store")
    session = tmp_path / "s.jsonl"
    session.write_text("{}\n")
    code, _ = _run_hook(command, {"transcript_path": str(session)}, dict(os.environ))
    assert code == 0


def test_status_reports_the_install_and_the_last_runs(home: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    code, out = invoke("hooks", "status")
    assert code == 0 and "Not installed" in out
    invoke("hooks", "install", "claude-code", "--store", str(store))
    log_path(store).parent.mkdir(parents=True)
    log_path(store).write_text("2026-01-05 10:00:00,000 1 INFO Stop session abc: 2 exchanges\n")
    code, out = invoke("hooks", "status")
    assert code == 0 and "Installed in" in out and "Stop session abc" in out
    assert "problem" not in out
    path = home / ".claude" / "settings.json"
    moved = path.read_text().replace(sys.executable, str(tmp_path / "gone" / "python"))
    path.write_text(moved)
    code, out = invoke("hooks", "status")
    assert "no longer exists" in out
