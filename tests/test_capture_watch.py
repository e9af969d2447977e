"""`memdistill watch`: settling (unit), and the real command as a subprocess while a real
session file grows line by line: debounced, searchable, restart-safe, Ctrl-C clean."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memdistill.capture.watch import Pending, Target


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_file_is_due_once_quiet_for_settle_seconds() -> None:
    clock = Clock()
    pending = Pending(settle=5, max_wait=60, clock=clock)
    a, b = Path("/logs/a.jsonl"), Path("/logs/b.jsonl")
    pending.changed(a)
    for _ in range(4):  # written line by line, a second apart
        clock.now += 1
        pending.changed(a)
        assert pending.take_due() == []
    assert pending.next_due() == clock.now + 5
    clock.now += 2
    pending.changed(b)
    clock.now += 3
    assert pending.take_due() == [a]  # b is still settling
    assert pending.take_due() == []
    clock.now += 2
    assert pending.take_due() == [b]
    assert pending.next_due() is None


def test_a_file_that_never_pauses_is_due_every_max_wait() -> None:
    clock = Clock()
    pending = Pending(settle=5, max_wait=20, clock=clock)
    path = Path("/logs/busy.jsonl")
    due_at = []
    for _ in range(60):
        pending.changed(path)
        clock.now += 1
        if pending.take_due():
            due_at.append(clock.now)
    assert due_at == [120.0, 140.0, 160.0]


def test_wait_blocks_without_a_timer_and_wakes_on_a_change() -> None:
    pending = Pending(settle=0.05, max_wait=1)
    got: list[list[Path]] = []
    waiter = threading.Thread(target=lambda: got.append(pending.wait()))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive() and not got
    pending.changed(Path("/logs/a.jsonl"))
    waiter.join(timeout=5)
    assert got == [[Path("/logs/a.jsonl")]]
    pending.stop()
    assert pending.wait() == []


def test_targets_accept_what_a_folder_ingest_would_read(tmp_path: Path) -> None:
    folder = Target(tmp_path, "folder")
    assert folder.accepts(tmp_path / "proj" / "session.jsonl")
    assert not folder.accepts(tmp_path / "proj" / ".hidden" / "session.jsonl")
    assert folder.accepts(tmp_path / "proj" / ".aider.chat.history.md")  # as a folder ingest
    assert folder.accepts(tmp_path / "proj" / ".specstory" / "history" / "2026-02-11.md")
    assert not folder.accepts(tmp_path / "proj" / "image.png")
    assert not folder.accepts(tmp_path.parent / "elsewhere.jsonl")
    exports = Target(tmp_path, "exports")
    assert exports.accepts(tmp_path / "export.zip")
    assert not exports.accepts(tmp_path / "sub" / "export.zip")
    one = Target(tmp_path / "a.md", "file")
    assert one.accepts(tmp_path / "a.md") and not one.accepts(tmp_path / "b.md")
    assert (one.watched, one.recursive) == (tmp_path, False)


class Watch:
    """`memdistill watch` as a real subprocess, its JSON lines read as they come."""

    def __init__(self, folder: Path, store: Path, *flags: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "memdistill.cli", "watch", str(folder),
                   "--store", str(store), "--json", *flags]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def next_event(self, kind: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = json.loads(self.lines.get(timeout=0.5))
            except queue.Empty:
                assert self.process.poll() is None, self.stop()
                continue
            self.events.append(event)
            if event["event"] == kind:
                return event
        raise AssertionError(f"no {kind} event in {timeout} s: {self.events}")

    def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        seen = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                seen.append(json.loads(self.lines.get(timeout=left)))
            except queue.Empty:
                break
        self.events += seen
        return seen

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)  # Ctrl-C
        _, err = self.process.communicate(timeout=60)
        return err


@pytest.fixture
def session_lines(request: pytest.FixtureRequest, fixtures: Path) -> Iterator[dict[str, Any]]:
    """A real Claude Code session (../shared/data) when present, else the project's own,
    with the prompt that comes after the first part and words to search it by."""
    from conftest import SHARED_DATA

    real = SHARED_DATA / "real" / "claude-code" / "spotter-tool_heavy.jsonl"
    if real.exists():
        lines = real.read_text().splitlines()
        yield {"lines": lines, "cut": 20, "query": "xterm.js scrolling", "expect": "xterm"}
    else:
        lines = (fixtures / "sources" / "claude-code-session.jsonl").read_text().splitlines()
        yield {"lines": lines, "cut": 18, "query": "Decimal subtotal float", "expect": "Decimal"}


def test_watch_ingests_a_growing_session_once_it_settles(
    tmp_path: Path, session_lines: dict[str, Any]
) -> None:
    lines, cut = session_lines["lines"], session_lines["cut"]
    folder = tmp_path / "projects" / "-home-dev-app"
    folder.mkdir(parents=True)
    session = folder / "3f2a9c1e.jsonl"
    session.write_text("\n".join(lines[:cut]) + "\n")
    (folder / "notes.txt").write_text("not a chat log: never ingested, never reported\n")
    store = tmp_path / "store"
    watch = Watch(tmp_path / "projects", store, "--settle", "3", "--max-wait", "60")
    try:
        caught_up = watch.next_event("caught-up")
        assert caught_up["exchanges_added"] >= 1 and caught_up["files_skipped"] == 1
        with session.open("a") as out:  # the agent writes the rest line by line
            for line in lines[cut:]:
                out.write(line + "\n")
                out.flush()
                time.sleep(0.05)
        ingested = watch.next_event("ingested")
        assert ingested["path"] == str(session)
        assert ingested["exchanges_added"] >= 1, ingested
        later = watch.quiet_for(6)  # the lines were one burst: one ingest, not one per line
        assert [e for e in later if e["event"] == "ingested"] == []

        from memdistill.api import Memory

        with Memory.open(store, create=False) as memory:  # while the watcher runs
            hits = memory.search(session_lines["query"], k=3)
            assert hits and session_lines["expect"] in memory.drill_down(hits[0])[0].text
        (folder / "notes.txt").write_text("still not a chat log\n")
        assert watch.quiet_for(5) == []
    finally:
        err = watch.stop()
    assert watch.process.returncode == 0, err
    assert "Traceback" not in err


def test_watch_catches_up_after_a_restart(tmp_path: Path, session_lines: dict[str, Any]) -> None:
    lines, cut = session_lines["lines"], session_lines["cut"]
    folder = tmp_path / "logs"
    folder.mkdir()
    session = folder / "session.jsonl"
    session.write_text("\n".join(lines[:cut]) + "\n")
    store = tmp_path / "store"
    watch = Watch(folder, store, "--settle", "1")
    try:
        watch.next_event("caught-up")
    finally:
        assert watch.stop() is not None
    assert watch.process.returncode == 0
    session.write_text("\n".join(lines) + "\n")  # grown while nobody watched
    watch = Watch(folder, store, "--settle", "1")
    try:
        caught_up = watch.next_event("caught-up")
        assert caught_up["exchanges_added"] >= 1 and caught_up["files_unchanged"] == 0
    finally:
        err = watch.stop()
    assert watch.process.returncode == 0 and "Traceback" not in err


def test_watch_with_nothing_to_watch_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from memdistill.cli import app

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    result = CliRunner().invoke(app, ["watch", "--store", str(tmp_path / "store")])
    assert result.exit_code == 1
    assert "nothing to watch" in result.output and "~/.claude/projects" in result.output
    result = CliRunner().invoke(app, ["watch", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such file or folder" in result.output


def test_a_folder_that_cannot_be_watched_is_a_clear_error(tmp_path: Path) -> None:
    from memdistill.api import Memory
    from memdistill.capture.watch import Watcher
    from memdistill.errors import ConfigError

    with Memory.open(tmp_path / "store") as memory:
        watcher = Watcher(memory, [Target(tmp_path / "gone", "folder")], settle=1, max_wait=5,
                          on_event=lambda event: None)  # fmt: skip
        with pytest.raises(ConfigError, match="cannot watch the folders"):
            watcher.run()
