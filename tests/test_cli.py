"""The real CLI, through Typer's runner and as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import EXCHANGES, write_generic
from typer.testing import CliRunner

from memdistill.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    log = write_generic(folder / "notes.jsonl")
    result = runner.invoke(app, ["ingest", str(log), "--store", str(folder / "store")])
    assert result.exit_code == 0, result.output
    assert f"{len(EXCHANGES)} added" in result.output
    return folder / "store"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_search_text_and_json(store: Path) -> None:
    code, out = run("search", "database is locked", "--store", str(store), "-k", "2")
    assert (code == 0 and "Why do writes fail under load?" in out) or "WAL" in out
    code, out = run("search", "database is locked", "--store", str(store), "-k", "2", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 2
    assert {
        "exchange_id",
        "score",
        "ranks",
        "exchange_core",
        "specific_context",
        "room_assignments",
        "files_touched",
        "source_message_ids",
    } <= set(hits[0])


def test_search_options(store: Path) -> None:
    code, out = run(
        "search",
        "tomatoes",
        "--store",
        str(store),
        "--project",
        "garden",
        "--mode",
        "all",
        "--fusion",
        "convex",
        "--weights",
        "1,1,1,1",
        "--since",
        "2026-03-08",
        "--until",
        "2026-03-09T00:00",
        "--json",
    )
    assert code == 0 and [h["conversation_id"] for h in json.loads(out)] == ["c3"]
    code, out = run("search", "docker", "--store", str(store), "--file", "Dockerfile", "--json")
    assert code == 0 and all(
        any(f["path"] == "Dockerfile" for f in h["files_touched"]) for h in json.loads(out)
    )


def test_show_rooms_room_stats_reindex_formats(store: Path) -> None:
    code, out = run("search", "docker", "--store", str(store), "--json", "-k", "1")
    exchange_id = json.loads(out)[0]["exchange_id"]
    code, out = run("show", str(exchange_id), "--store", str(store))
    assert code == 0 and "User: Add a Dockerfile for the API" in out
    code, out = run("show", str(exchange_id), "--store", str(store), "--json")
    assert json.loads(out)["messages"][0]["kind"] == "prompt"
    code, out = run("rooms", "--store", str(store))
    assert code == 0 and "file:Dockerfile" in out
    code, out = run("room", "file:Dockerfile", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)[0]["conversation_id"] == "c2"
    code, out = run("stats", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["exchanges"] == len(EXCHANGES)
    code, out = run("stats", "--store", str(store))
    assert "compression" in out
    code, out = run("reindex", "--store", str(store), "--json")
    assert code == 0 and json.loads(out)["indexed"] == len(EXCHANGES)
    code, out = run("formats")
    assert code == 0 and "claude-code" in out and "locomo" in out
    assert "where: ~/.claude/projects" in out
    code, out = run("formats", "--json")
    assert json.loads(out)["codex"]["where"].startswith("~/.codex/sessions")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "x", "--mode", "fuzzy"], "unknown search mode"),
        (["search", "x", "--since", "last tuesday"], "--since takes an ISO date"),
        (["search", "x", "--fusion", "convex", "--weights", "a,b"], "--weights takes numbers"),
        (["show", "424242"], "no exchange 424242"),
        (["room", "file:nothing"], "memdistill rooms"),
        (["ingest", "x.jsonl", "--format", "word"], "unknown source format"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(store: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--store", str(store)])
    assert result.exit_code == 1
    assert message in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    result = runner.invoke(app, [*args, "--store", str(store), "--json"])
    assert result.exit_code == 1 and message in json.loads(result.output)["error"]


def test_missing_store_says_how_to_create_one(tmp_path: Path) -> None:
    code, out = run("search", "x", "--store", str(tmp_path / "nowhere"))
    assert code == 1 and "memdistill ingest" in out


def test_ingest_of_only_bad_files_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, out = run("ingest", str(bad), "--store", str(tmp_path / "s"))
    assert code == 1 and f"{bad}: unknown format" in out
    code, out = run("ingest", str(bad), "--store", str(tmp_path / "s"), "--format", "chatgpt")
    assert code == 1 and f"{bad}:1: not valid JSON" in out


def test_store_from_environment_and_subprocess(tmp_path: Path) -> None:
    log = write_generic(tmp_path / "a.jsonl", EXCHANGES[:2])
    env = {
        "MEMDISTILL_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
        "HF_HUB_OFFLINE": "1",
    }
    exe = [sys.executable, "-m", "memdistill.cli"]
    done = subprocess.run(
        [*exe, "ingest", str(log)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / "memdistill.db").exists()
    found = subprocess.run(
        [*exe, "search", "latin-1", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert found.returncode == 0 and json.loads(found.stdout)


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    commands = [
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    ]
    assert commands
    for command in commands:
        assert re.search(rf"memdistill {command}\b", readme), f"README lacks `memdistill {command}`"
