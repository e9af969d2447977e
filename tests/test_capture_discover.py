"""`memdistill ingest` with no path: logs found where agents keep them (from the parser
registry), export zips read in place, what was found and what each source added."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from memdistill.capture.discover import discover
from memdistill.cli import app
from memdistill.models import Conversation, Message
from memdistill.sources import PARSERS
from memdistill.sources.base import Parser, ProblemSink

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder / ".config"))  # no user-dirs.dirs
    return folder


def claude_session(home: Path, fixtures: Path) -> Path:
    session = home / ".claude" / "projects" / "-home-dev-invoice-app" / "7f0c2a9e.jsonl"
    session.parent.mkdir(parents=True)
    shutil.copy(fixtures / "sources" / "claude-code-session.jsonl", session)
    return session


def chatgpt_export(path: Path, conversations: list[object], mtime: float) -> Path:
    """A zip shaped like ChatGPT's download: conversations.json beside the other files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
        archive.writestr("user.json", json.dumps({"id": "user-8c1f", "email": "me@example.com"}))
        archive.writestr("message_feedback.json", "[]")
        archive.writestr("chat.html", "<html><body>...</body></html>")
    os.utime(path, (mtime, mtime))
    return path


def conversations(fixtures: Path) -> list[object]:
    data = json.loads((fixtures / "sources" / "chatgpt-conversations.json").read_text())
    return data if isinstance(data, list) else [data]


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_ingest_with_no_path_finds_says_and_ingests(
    home: Path, fixtures: Path, tmp_path: Path
) -> None:
    claude_session(home, fixtures)
    chatgpt_export(home / "Downloads" / "export-2025-01.zip", conversations(fixtures), 1.7e9)
    (home / "Downloads" / "photos.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # empty zip
    store = str(tmp_path / "store")
    code, out = invoke("ingest", "--store", store)
    assert code == 0, out
    found, _, after = out.partition("Ingesting:")
    assert "claude-code" in found and "~/.claude/projects: 1 file" in found
    assert "chatgpt" in found and "~/Downloads: 1 export zip" in found
    assert "photos.zip" not in out
    assert "codex: ~/.codex/sessions (absent)" in found  # where else it looked
    for source in ("claude-code", "chatgpt"):
        line = next(line for line in after.splitlines() if source in line)
        added = re.search(r"(\d+) exchanges? added", line)
        assert added and int(added.group(1)) > 0, line

    code, out = invoke("ingest", "--store", store, "--json")  # again: nothing new
    data = json.loads(out)
    assert code == 0 and [s["format"] for s in data["sources"]] == ["claude-code", "chatgpt"]
    assert data["total"]["exchanges_added"] == 0 and data["total"]["files_unchanged"] == 2
    assert {"format", "kind", "where", "paths", "files", "bytes"} <= set(data["found"][0])


def test_export_zip_same_again_adds_nothing_newer_adds_what_is_new(
    home: Path, fixtures: Path, tmp_path: Path
) -> None:
    base = conversations(fixtures)
    downloads = home / "Downloads"
    chatgpt_export(downloads / "a1b2-2025-01-02-10-00-00.zip", base, 1.7e9)
    store = str(tmp_path / "store")
    code, out = invoke("ingest", "--store", store, "--json")
    first = json.loads(out)["total"]["exchanges_added"]
    assert code == 0 and first > 0
    # The same export downloaded again under another name: nothing new.
    chatgpt_export(downloads / "a1b2-2025-01-02-10-00-00 (1).zip", base, 1.75e9)
    code, out = invoke("ingest", "--store", store, "--json")
    assert json.loads(out)["total"]["exchanges_added"] == 0
    # A newer export: the old conversations plus one more.
    newer = json.loads(json.dumps(base[0]))
    newer["id"] = "conv-walrus-0001"
    newer["title"] = "Walrus"
    for node in newer["mapping"].values():
        message = node.get("message") or {}
        if (message.get("author") or {}).get("role") == "user":
            message["content"]["parts"] = ["Why does the walrus importer drop every 7th row?"]
    chatgpt_export(downloads / "a1b2-2025-03-01-10-00-00.zip", [*base, newer], 1.8e9)
    code, out = invoke("ingest", "--store", store, "--json")
    added = json.loads(out)["total"]["exchanges_added"]
    alone = chatgpt_export(tmp_path / "alone.zip", [newer], 1.8e9)
    code, out = invoke("ingest", str(alone), "--store", str(tmp_path / "other"), "--json")
    assert added == json.loads(out)["exchanges_added"] > 0  # the new conversation, only
    code, out = invoke("search", "walrus importer 7th row", "--store", store, "--json")
    assert "walrus" in json.loads(out)[0]["exchange_core"].lower()
    assert not list(downloads.glob("*.json"))  # nothing unpacked beside the zips


def test_a_named_zip_is_read_in_place_and_a_bad_one_named(tmp_path: Path, fixtures: Path) -> None:
    export = chatgpt_export(tmp_path / "export.zip", conversations(fixtures), 1.7e9)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 truncated")
    nothing = tmp_path / "nothing.zip"
    with zipfile.ZipFile(nothing, "w") as archive:
        archive.writestr("readme.txt", "hello")
    store = str(tmp_path / "store")
    code, out = invoke("ingest", str(export), str(broken), str(nothing), "--store", store)
    assert code == 0, out
    assert "added" in out
    assert f"{broken}: not a readable zip file" in out
    assert f"{nothing}: no conversations*.json inside" in out
    code, out = invoke("ingest", str(export), "--store", store)
    assert "1 unchanged" in out


def test_nothing_found_says_where_it_looked_and_how_to_point(home: Path, tmp_path: Path) -> None:
    code, out = invoke("ingest", "--store", str(tmp_path / "store"))
    assert code == 1
    assert "No chat logs found" in out
    assert "~/.claude/projects (absent)" in out and "~/.codex/sessions (absent)" in out
    assert "~/Downloads (absent)" in out
    assert "memdistill ingest PATH" in out and "--root DIR" in out
    code, out = invoke("ingest", "--store", str(tmp_path / "store"), "--json")
    assert code == 1 and json.loads(out)["found"] == []


def test_paths_and_auto_do_not_mix(tmp_path: Path) -> None:
    code, out = invoke("ingest", str(tmp_path), "--auto")
    assert code == 1 and "not both" in out
    code, out = invoke("ingest", "--format", "codex", "--store", str(tmp_path / "s"))
    assert code == 1 and "--format applies to the paths you name" in out


def test_dry_run_lists_and_ingests_nothing(home: Path, fixtures: Path, tmp_path: Path) -> None:
    claude_session(home, fixtures)
    store = tmp_path / "store"
    code, out = invoke("ingest", "--dry-run", "--store", str(store))
    assert code == 0 and "claude-code" in out and "added" not in out
    from memdistill.api import Memory

    with Memory.open(store) as memory:
        assert memory.stats().exchanges == 0


class _ProjectLog(Parser):
    """A format whose logs live in each project (as Aider's do), registered for the test:
    finding it needs no change to the discovery code."""

    name: ClassVar[str] = "project-notes"
    description: ClassVar[str] = "test format"
    project_files: ClassVar[tuple[str, ...]] = (".agent.history.md", ".notes/history/*.md")

    def sniff(self, path: Path, head: str) -> bool:
        return head.startswith("#### ")

    def parse(self, path: Path, problems: ProblemSink) -> Iterator[Conversation]:
        lines = path.read_text().splitlines()
        messages = [
            Message(str(n), "user" if line.startswith("#### ") else "assistant",
                    "prompt" if line.startswith("#### ") else "text",
                    line.removeprefix("#### "), line=n)
            for n, line in enumerate(lines, 1) if line.strip()
        ]  # fmt: skip
        yield Conversation(path.name, messages, None, None, id_from_file=True)


@pytest.fixture
def project_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PARSERS, _ProjectLog.name, _ProjectLog)


def test_project_files_are_found_under_roots(
    project_format: None, home: Path, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    history = "#### why is the parquet export slow?\nBecause row groups are tiny.\n"
    for place in ("alpha/.agent.history.md", "org/beta/.notes/history/2025-01.md",
                  "org/beta/.notes/history/2025-02.md", "gamma/node_modules/x/.agent.history.md",
                  "a/b/c/d/e/.agent.history.md", ".hidden/p/.agent.history.md"):  # fmt: skip
        path = code / place
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(history)
    found = discover([code]).found
    assert [(f.format, f.kind, f.where) for f in found] == [("project-notes", "project", code)]
    assert sorted(str(p.relative_to(code)) for p in found[0].paths) == [
        "alpha/.agent.history.md",
        "org/beta/.notes/history/2025-01.md",
        "org/beta/.notes/history/2025-02.md",
    ]  # dependency trees, hidden folders and folders too deep are not walked

    store = str(tmp_path / "store")
    code_, out = invoke("ingest", "--root", str(code), "--store", store)
    assert code_ == 0, out
    assert "project-notes" in out and "3 files" in out
    # or from the store's config.toml
    (tmp_path / "store" / "config.toml").write_text(f'[capture]\nroots = ["{code}"]\n')
    code_, out = invoke("ingest", "--store", store, "--json")
    assert json.loads(out)["total"]["files_unchanged"] == 3


def test_capture_settings_are_checked(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "config.toml").write_text('[capture]\nroot = ["~/code"]\n')
    code, out = invoke("ingest", "--store", str(store))
    assert code == 1 and "unknown capture setting 'root'" in out


def test_a_folder_named_by_an_unset_variable_is_not_looked_for(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    class _Relocated(_ProjectLog):
        name: ClassVar[str] = "relocated"
        default_folders: ClassVar[tuple[str, ...]] = ("$MEMDISTILL_TEST_AGENT_HOME/logs",)
        project_files: ClassVar[tuple[str, ...]] = ()

    monkeypatch.setitem(PARSERS, _Relocated.name, _Relocated)
    monkeypatch.delenv("MEMDISTILL_TEST_AGENT_HOME", raising=False)
    looked = {lk.what: lk for lk in discover().looked}
    assert looked["relocated"].result == "absent"
    logs = home / "agent" / "logs"
    logs.mkdir(parents=True)
    (logs / "a.md").write_text("#### hello\nhi\n")
    monkeypatch.setenv("MEMDISTILL_TEST_AGENT_HOME", str(home / "agent"))
    found = {f.format: f for f in discover().found}
    assert found["relocated"].where == logs and found["relocated"].files == 1


@pytest.mark.parametrize(
    ("name", "place"),
    [("aider", "proj/.aider.chat.history.md"), ("specstory", "proj/.specstory/history/a.md")],
)
def test_per_project_formats_are_found_by_their_parsers_project_files(
    name: str, place: str, tmp_path: Path
) -> None:
    """Once a per-project format is registered, its parser says which files it reads in a
    project, and nothing else is needed for `ingest --root` to find them."""
    if name not in PARSERS:
        pytest.skip(f"no {name} parser registered")
    assert PARSERS[name].project_files, f"{name} sets no project_files"
    path = tmp_path / "code" / place
    path.parent.mkdir(parents=True)
    path.write_text("#### hello\n")
    found = discover([tmp_path / "code"], agents=False).found
    assert [(f.format, f.paths) for f in found] == [(name, [path])]


def test_a_zip_sent_to_the_service_is_not_read(tmp_path: Path, fixtures: Path) -> None:
    """A forget scrubs the service's kept copies by parsing them and opens no zip, so a
    kept zip is refused rather than read (its conversations would outlive a forget)."""
    from memdistill.api import Memory
    from memdistill.store import kept

    with Memory.open(tmp_path / "store") as memory:
        upload = kept.upload_path(memory.store.folder, memory.tenant, "export.zip")
        upload.parent.mkdir(parents=True, exist_ok=True)
        chatgpt_export(upload, conversations(fixtures), 1.7e9)
        report = memory.ingest([upload])
        assert report.files_failed == 1 and report.exchanges_added == 0
        assert "send the conversations.json in it" in str(report.problems[0])
        own = chatgpt_export(tmp_path / "mine.zip", conversations(fixtures), 1.7e9)
        assert memory.ingest([own]).exchanges_added > 0


def test_per_source_reports_add_up() -> None:
    from memdistill.cli.capture import combined
    from memdistill.ingest import IngestReport
    from memdistill.models import Problem

    account = {"distiller": "llm", "requests": 3, "prompt_tokens": 900, "cost_usd": 0.5,
               "price_in": 1.0, "price_out": 2.0, "fallback_reasons": {"timeout": 1}}  # fmt: skip
    one = IngestReport(files=2, exchanges_added=5, llm=account,
                       problems=[Problem("a.jsonl", 3, "bad line")],
                       skipped=[Problem("README.md", None, "no parser")])  # fmt: skip
    one.time("total", 1.5)
    more = {**account, "fallback_reasons": {"timeout": 2, "refused": 1}}
    two = IngestReport(files=1, files_unchanged=1, exchanges_added=1, llm=more)
    two.time("total", 0.5)
    total = combined([one, two, IngestReport()])
    assert (total.files, total.files_unchanged, total.exchanges_added) == (3, 1, 6)
    assert total.timings == {"total": 2.0} and len(total.problems) == len(total.skipped) == 1
    assert total.llm is not None
    assert (total.llm["requests"], total.llm["prompt_tokens"], total.llm["cost_usd"]) == (
        6,
        1800,
        1.0,
    )
    assert total.llm["price_in"] == 1.0
    assert total.llm["fallback_reasons"] == {"timeout": 3, "refused": 1}
