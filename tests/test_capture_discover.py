"""`memdistill ingest` with no path: logs found where agents keep them (from the parser
registry), export zips read in place, what was found and what each source added."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memdistill.capture.discover import discover
from memdistill.cli import app
from memdistill.sources import PARSERS

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


def test_per_project_logs_are_found_under_roots(home: Path, tmp_path: Path, fixtures: Path) -> None:
    """Aider and SpecStory keep their logs in each project (their parsers' `hidden_paths`):
    `--root` finds them, and only them."""
    code = tmp_path / "code"
    aider = (fixtures / "sources" / "aider-chat-history.md").read_text()
    specstory = (fixtures / "sources" / "specstory-claude-code.md").read_text()
    for place, text in (
        ("alpha/.aider.chat.history.md", aider),
        ("org/beta/.specstory/history/2026-02-11_10-02Z-export.md", specstory),
        ("org/beta/.specstory/history/2026-02-12_09-00Z-again.md", specstory),
        ("org/beta/README.md", "# beta\n"),  # not a per-project log: not picked
        ("gamma/node_modules/x/.aider.chat.history.md", aider),  # dependency trees: not walked
        ("a/b/c/d/e/.aider.chat.history.md", aider),  # deeper than MAX_DEPTH
        (".hidden/p/.aider.chat.history.md", aider),  # inside a hidden folder
    ):
        path = code / place
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    found = {f.format: f for f in discover([code], agents=False).found}
    assert sorted(found) == ["aider", "specstory"]
    assert [p.relative_to(code) for p in found["aider"].paths] == [
        Path("alpha/.aider.chat.history.md")
    ]
    assert len(found["specstory"].paths) == 2 and found["specstory"].where == code

    store = str(tmp_path / "store")
    code_, out = invoke("ingest", "--root", str(code), "--store", store)
    assert code_ == 0, out
    assert "aider" in out and "specstory" in out and "1 file" in out and "2 files" in out
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
    monkeypatch: pytest.MonkeyPatch, home: Path, fixtures: Path
) -> None:
    codex = PARSERS["codex"]
    monkeypatch.setattr(codex, "default_folders", ("$MEMDISTILL_TEST_CODEX_HOME/sessions",))
    monkeypatch.delenv("MEMDISTILL_TEST_CODEX_HOME", raising=False)
    looked = {lk.what: lk for lk in discover().looked}
    assert looked["codex"].result == "absent"
    sessions = home / "elsewhere" / "sessions"
    sessions.mkdir(parents=True)
    rollout = next((fixtures / "sources").glob("rollout-*.jsonl"))
    shutil.copy(rollout, sessions / rollout.name)
    monkeypatch.setenv("MEMDISTILL_TEST_CODEX_HOME", str(home / "elsewhere"))
    found = {f.format: f for f in discover().found}
    assert found["codex"].where == sessions and found["codex"].files == 1


@pytest.mark.parametrize(
    ("name", "place"),
    [("aider", "proj/.aider.chat.history.md"), ("specstory", "proj/.specstory/history/a.md")],
)
def test_per_project_formats_are_found_by_their_parsers_hidden_paths(
    name: str, place: str, tmp_path: Path
) -> None:
    """A per-project format's parser says which files it reads in a project, and nothing
    else is needed for `ingest --root` to find them."""
    assert PARSERS[name].hidden_paths, f"{name} sets no hidden_paths"
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
