"""Ingest edge cases: the same conversation twice in a run, exchanges that vanish from a
re-exported file, tenants, and two processes working on one store at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import EXCHANGES, write_generic

from memdistill.api import Memory
from memdistill.config import tenant_folder
from memdistill.errors import ConfigError


def test_a_path_named_twice_and_a_copied_export_in_one_run(tmp_path: Path) -> None:
    log = write_generic(tmp_path / "a.jsonl")
    shutil.copy(log, tmp_path / "copy-of-a.jsonl")  # same conversations, another file
    with Memory.open(tmp_path / "s") as memory:
        report = memory.ingest([log, log, tmp_path])
        assert report.problems == [] and report.files == 2
        assert report.exchanges_added == len(EXCHANGES)
        assert report.exchanges_skipped == len(EXCHANGES)  # the copy adds nothing
        assert memory.stats().exchanges == len(EXCHANGES)


def _chat(path: Path, turns: list[tuple[str, str, str]]) -> Path:
    lines = []
    for n, (mid, role, text) in enumerate(turns):
        lines.append({"conversation_id": "chat", "message_id": mid, "role": role,
                      "content": text, "timestamp": f"2026-04-01T10:{n:02d}:00Z"})  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_an_exchange_gone_from_its_file_is_kept_softly(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    first = [("m1", "user", "How do I rotate nginx logs?"), ("m2", "assistant", "Use logrotate."),
             ("m3", "user", "What about the kubernetes ingress timeout?"),
             ("m4", "assistant", "Set proxy-read-timeout to 120.")]  # fmt: skip
    # The person edited their second question: the export's active branch changed.
    second = [*first[:2], ("m5", "user", "What about the docker healthcheck interval?"),
              ("m6", "assistant", "Set interval to 30s in the HEALTHCHECK line.")]  # fmt: skip
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest(_chat(path, first))
        kube = memory.search("kubernetes ingress timeout", k=1)[0]
        assert kube.source_message_ids == ["m3", "m4"]
        report = memory.ingest(_chat(path, second))
        assert (report.exchanges_added, report.exchanges_left_source) == (1, 1)
        found = memory.search("kubernetes ingress timeout", k=5)
        assert all(hit.exchange_id != kube.exchange_id for hit in found)
        assert memory.search("docker healthcheck interval", k=1)[0].source_message_ids == [
            "m5", "m6"]  # fmt: skip
        assert memory.stats().exchanges == 2
        db = memory.store.db
        status = db.execute("SELECT status FROM memories WHERE exchange_id = ?",
                            [kube.exchange_id]).fetchone()[0]  # fmt: skip
        assert status == "left_source"  # kept, with its history, not deleted
        assert memory.drill_down(kube.exchange_id)[0].text.startswith("What about the kube")
        actions = [
            r[0]
            for r in db.execute(
                "SELECT action FROM history WHERE exchange_id = ? ORDER BY id", [kube.exchange_id]
            )
        ]
        assert actions == ["created", "left_source"]
        # The branch is restored: the exchange comes back, active again.
        report = memory.ingest(_chat(path, first))
        assert report.exchanges_updated == 1 and report.exchanges_left_source == 1
        assert memory.search("kubernetes ingress timeout", k=1)[0].exchange_id == kube.exchange_id


def test_tenant_names_are_checked_and_kept_apart(tmp_path: Path) -> None:
    for bad in ("alice/", "../bob", "", "a b", ".hidden"):
        with pytest.raises(ConfigError, match="tenant"):
            Memory.open(tmp_path / "s", tenant=bad)
    assert tenant_folder("Alice") != tenant_folder("alice")
    with Memory.open(tmp_path / "s", tenant="Alice") as upper:
        upper.ingest(write_generic(tmp_path / "a.jsonl", EXCHANGES[:2]))
    with Memory.open(tmp_path / "s", tenant="alice") as lower:
        assert lower.search("latin-1 csv encoding", k=5) == []
        assert lower.stats().exchanges == 0


def test_two_processes_ingest_and_search_one_store(tmp_path: Path) -> None:
    logs = []
    for n in range(2):
        rows = [(f"p{n}-{conv}", *rest) for conv, *rest in EXCHANGES * 3]
        logs.append(write_generic(tmp_path / f"log{n}.jsonl", rows))
    store = tmp_path / "s"
    env = {**os.environ, "MEMDISTILL_HOME": str(store)}
    Memory.open(store).close()  # created before the race, as a user's store would be
    procs = [
        subprocess.Popen([sys.executable, "-m", "memdistill.cli", "ingest", str(log), "--quiet"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for log in logs
    ]  # fmt: skip
    searches = 0
    with Memory.open(store) as reader:
        while any(p.poll() is None for p in procs):
            reader.search("database is locked", k=3)  # never raises while others write
            searches += 1
        for p in procs:
            _out, err = p.communicate()
            assert p.returncode == 0, err
        assert reader.stats().exchanges == 2 * len(EXCHANGES) * 3
        assert len(reader.search("database is locked", k=10)) == 10
    assert searches > 0


def test_files_of_the_same_name_without_conversation_ids_never_overwrite(tmp_path: Path) -> None:
    # chat.jsonl in two projects, no conversation_id, message ids made from positions.
    a = _plain(tmp_path / "projA" / "chat.jsonl", "How do I pin numpy below 2?", "numpy<2")
    b = _plain(tmp_path / "projB" / "chat.jsonl", "Which port does the API use?", "Port 8080.")
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest(a)
        memory.ingest(b)  # a separate run, then both in one run
        memory.ingest([a, b])
        assert memory.stats().exchanges == 2 and memory.stats().conversations == 2
        for query, answer in (("pin numpy", "numpy<2"), ("API port", "Port 8080.")):
            hit = memory.search(query, k=1)[0]
            assert memory.drill_down(hit)[-1].text == answer


def _plain(path: Path, question: str, answer: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"role": "user", "content": question}) + "\n"
                    + json.dumps({"role": "assistant", "content": answer}) + "\n")  # fmt: skip
    return path
