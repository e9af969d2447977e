"""Real deletion (`memdistill forget`) on real parts: SQLite files, FAISS, BM25, the bundled
ONNX embedder, the CLI through Typer's runner and as a subprocess."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from corpus import EXCHANGES, write_generic
from typer.testing import CliRunner

from memdistill.api import Memory
from memdistill.cli import app
from memdistill.config import tenant_folder
from memdistill.distill.llm import asked_text
from memdistill.errors import NotFoundError, QueryError
from memdistill.exchanges import split_exchanges
from memdistill.forget import ForgetPlan
from memdistill.index.analyze import analyze
from memdistill.index.bm25 import term_id
from memdistill.index.layers import Indexes
from memdistill.models import LAYERS
from memdistill.sources import get_parser

SECRET = "zebra-quokka-7781"
SECRET_EXCHANGE = (
    "c5",
    "garden",
    10,
    f"Remember my gym locker code, it is {SECRET}.",
    f"Noted: your gym locker code is {SECRET}.",
    None,
    None,
)
CORPUS = [*EXCHANGES, SECRET_EXCHANGE]
MODES = [*LAYERS, "verbatim-bm25+distilled-vector"]  # every layer, and the default
runner = CliRunner()


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_generic(tmp_path / "notes.jsonl", CORPUS)


@pytest.fixture
def store(tmp_path: Path, log: Path) -> Path:
    folder = tmp_path / "store"
    with Memory.open(folder) as memory:
        memory.ingest(log)
    return folder


def prompts(folder: Path, tenant: str = "default") -> dict[int, str]:
    """Exchange id -> its prompt, for the tenant."""
    db = sqlite3.connect(folder / "memdistill.db")
    return dict(db.execute(
        "SELECT e.id, m.text FROM exchanges e JOIN messages m ON m.exchange_id = e.id "
        "WHERE e.tenant = ? AND m.kind = 'prompt' ORDER BY e.id", [tenant]).fetchall())  # fmt: skip


def id_of(folder: Path, prompt: str, tenant: str = "default") -> int:
    return next(i for i, text in prompts(folder, tenant).items() if text == prompt)


def raw_bytes(folder: Path) -> bytes:
    """The store file as it is on disk, with its WAL and shared-memory index if present."""
    return b"".join(p.read_bytes() for p in sorted(folder.glob("memdistill.db*")))


def rows_about(folder: Path, exchange_id: int) -> dict[str, int]:
    db = sqlite3.connect(folder / "memdistill.db")
    tables = ["messages", "memories", "memory_rooms", "files_touched", "embeddings", "usage",
              "history"]  # fmt: skip
    counts = {t: db.execute(f"SELECT COUNT(*) FROM {t} WHERE exchange_id = ?", [exchange_id])
              .fetchone()[0] for t in tables}  # fmt: skip
    counts["exchanges"] = db.execute(
        "SELECT COUNT(*) FROM exchanges WHERE id = ?", [exchange_id]
    ).fetchone()[0]
    return {t: n for t, n in counts.items() if n}


def found_anywhere(memory: Memory, query: str, exchange_id: int) -> list[str]:
    """The modes in which a search for `query` returns `exchange_id` (k above the corpus)."""
    return [
        mode
        for mode in MODES
        if exchange_id in {h.exchange_id for h in memory.search(query, k=50, mode=mode)}
    ]


def test_forget_by_text_leaves_no_trace_in_any_index_or_on_disk(store: Path) -> None:
    assert SECRET.encode() in raw_bytes(store)  # so the check below can fail
    with Memory.open(store) as memory:
        secret_id = id_of(store, SECRET_EXCHANGE[3])
        assert found_anywhere(memory, SECRET, secret_id) == MODES
        before = memory.indexes.counts()
        verbatim = {i: memory.verbatim(i) for i in prompts(store) if i != secret_id}
        report = memory.forget(text="ZEBRA-Quokka-7781")  # any case
        assert report.confirmed and report.forgotten == [secret_id]
        assert report.scrubbed
        assert found_anywhere(memory, SECRET, secret_id) == []
        assert memory.indexes.counts() == {layer: n - 1 for layer, n in before.items()}
        with pytest.raises(NotFoundError):
            memory.get(secret_id)
        # Everything else is as it was.
        assert {i: memory.verbatim(i) for i in verbatim} == verbatim
        assert SECRET.encode() not in raw_bytes(store)  # with the Memory still open
        assert memory.reindex() == len(CORPUS) - 1  # a rebuild reads the tombstones too
        assert found_anywhere(memory, SECRET, secret_id) == []
    assert SECRET.encode() not in raw_bytes(store)
    assert rows_about(store, secret_id) == {}
    db = sqlite3.connect(store / "memdistill.db")
    # Its only conversation went with it; no room is left without a memory.
    c5 = db.execute("SELECT COUNT(*) FROM conversations WHERE external_id = 'c5'").fetchone()[0]
    orphans = db.execute(
        "SELECT COUNT(*) FROM rooms r WHERE NOT EXISTS "
        "(SELECT 1 FROM memory_rooms mr WHERE mr.room_id = r.id)"
    ).fetchone()[0]
    assert (c5, orphans) == (0, 0)
    # The tombstone holds ids and source keys; the history row names the selector kind only.
    tomb = db.execute(
        "SELECT tenant, exchange_id, conversation_external_id, exchange_external_id, generation "
        "FROM forgotten"
    ).fetchall()
    assert tomb == [("default", secret_id, "c5", "m8-u", report.generation)]
    (detail,) = db.execute("SELECT detail FROM history WHERE action = 'forgotten'").fetchone()
    assert json.loads(detail) == {"selectors": ["text"], "exchanges": 1, "restored": 0}


def expected(selector: str) -> set[str]:
    """The prompts each selection names, from the corpus itself."""
    days = {row[3]: row[2] for row in CORPUS}
    return {
        "ids": {"Add a Dockerfile for the API", "How often do I water basil?"},
        "conversation": {row[3] for row in CORPUS if row[0] == "c2"},
        "project": {row[3] for row in CORPUS if row[1] == "garden"},
        "time": {p for p, day in days.items() if 5 <= day < 9},
        "project+time": {row[3] for row in CORPUS if row[1] == "tidewater" and row[2] >= 5},
    }[selector]


@pytest.mark.parametrize("selector", ["ids", "conversation", "project", "time", "project+time"])
def test_each_selector_deletes_exactly_what_it_names(store: Path, selector: str) -> None:
    before = prompts(store)
    chosen = {i for i, p in before.items() if p in expected(selector)}
    assert chosen
    kwargs: dict[str, object] = {
        "ids": {"exchange_ids": sorted(chosen)},
        "conversation": {"conversation": "c2"},
        "project": {"project": "garden"},
        "time": {"since": datetime(2026, 3, 5, tzinfo=UTC), "until": datetime(2026, 3, 9)},
        "project+time": {"project": "tidewater", "since": datetime(2026, 3, 5, tzinfo=UTC)},
    }[selector]
    with Memory.open(store) as memory:
        kept = {i: memory.verbatim(i) for i in before if i not in chosen}
        report = memory.forget(**kwargs)  # type: ignore[arg-type]
        assert sorted(report.forgotten) == sorted(chosen)
        assert set(prompts(store)) == set(kept)
        for exchange_id, verbatim in kept.items():
            assert memory.verbatim(exchange_id) == verbatim  # verbatim intact
            reply = verbatim.rsplit("Assistant: ", 1)[-1]
            hits = memory.search(reply, k=3, mode="verbatim-bm25")
            assert exchange_id in {h.exchange_id for h in hits}  # still searchable
        for exchange_id in chosen:
            assert rows_about(store, exchange_id) == {}
            assert found_anywhere(memory, before[exchange_id], exchange_id) == []
        assert len(memory.indexes) == len(kept)


def test_selector_errors_name_what_to_do(store: Path) -> None:
    with Memory.open(store) as memory:
        with pytest.raises(QueryError, match=r"forget needs a selector.*--since 1970-01-01"):
            memory.forget()
        with pytest.raises(QueryError, match="--text needs some text"):
            memory.forget(text="  ")
        with pytest.raises(NotFoundError, match="no exchange 424242, 424243 in this store"):
            memory.forget([1, 424242, 424243])
        with pytest.raises(NotFoundError, match="matches --project, --text"):
            memory.forget(project="garden", text="Dockerfile")
    assert len(prompts(store)) == len(CORPUS)


def test_reingest_never_brings_a_forgotten_exchange_back(tmp_path: Path, store: Path) -> None:
    log = tmp_path / "notes.jsonl"
    committed = id_of(store, "yes")  # the middle of c1, which stays
    with Memory.open(store) as memory:
        memory.forget(text=SECRET)
        memory.forget(committed)
        assert memory.ingest(log).files_unchanged == 1  # the same file
        grown = [
            *CORPUS,
            ("c5", "garden", 11, "And my bike lock code?", "That one is 4242.", None, None),
            ("c1", "tidewater", 13, "Any other encoding issue?", "None left.", None, None),
        ]
        write_generic(log, grown)  # a session file that grew, forgotten exchanges still in it
        report = memory.ingest(log)
        assert (report.exchanges_added, report.exchanges_forgotten_skipped) == (2, 2)
        assert report.exchanges_skipped == len(CORPUS) - 2
        assert memory.search(SECRET, k=50, mode="verbatim-bm25") == []
        for prompt in ("And my bike lock code?", "Any other encoding issue?"):
            # Indexed, even where a new exchange reuses a forgotten one's row id.
            assert found_anywhere(memory, prompt, id_of(store, prompt)) == MODES
    assert "yes" not in prompts(store).values()
    assert set(prompts(store).values()) == {row[3] for row in grown} - {"yes", SECRET_EXCHANGE[3]}
    assert SECRET.encode() not in raw_bytes(store)


def test_a_conversation_with_no_exchange_can_be_forgotten(tmp_path: Path, store: Path) -> None:
    """Found in review: a conversation of meta lines only (a lone system prompt) is stored
    as loose messages, which no selector reached: a forget said "not found" and the text
    stayed. Every selector but ids reaches them now, and ingest never writes them back."""
    prompt = f"You are the assistant of the locker room; the master code is {SECRET}x."
    lonely = tmp_path / "lonely.jsonl"
    lines = [{"conversation_id": "sys1", "project": "garden", "role": "system", "content": prompt,
              "timestamp": "2026-03-01T10:00:00Z"}]  # fmt: skip
    lonely.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with Memory.open(store) as memory:
        assert memory.ingest(lonely).exchanges_added == 0
        with pytest.raises(NotFoundError):  # ids name exchanges only
            memory.forget(id_of(store, "yes"), text="master code")
        plan: list[ForgetPlan] = []
        report = memory.forget(text="MASTER CODE", confirm=lambda p: plan.append(p) or True)
        assert [(lo.conversation, lo.messages) for lo in plan[0].loose] == [("sys1", 1)]
        assert plan[0].exchanges == [] and report.forgotten == []
        assert (report.loose_messages_deleted, report.conversations_deleted) == (1, 1)
        assert f"{SECRET}x".encode() not in raw_bytes(store)
        lonely.write_text(lonely.read_text() + " ")  # changed, so it is read again
        again = memory.ingest(lonely)
        assert (again.conversations, again.exchanges_added) == (1, 0)
    db = sqlite3.connect(store / "memdistill.db")
    for table in ("conversations", "forgotten_messages"):
        column = "external_id" if table == "conversations" else "conversation_external_id"
        count = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = 'sys1'").fetchone()
        assert count == ((0,) if table == "conversations" else (1,))  # no row came back
    assert f"{SECRET}x".encode() not in raw_bytes(store)
    assert SECRET.encode() in raw_bytes(store)  # the exchange holding it was not selected


def test_another_tenants_ids_are_refused_and_untouched(store: Path, log: Path) -> None:
    with Memory.open(store, tenant="bob") as bob:
        bob.ingest(log)
    theirs = id_of(store, SECRET_EXCHANGE[3])
    mine = id_of(store, SECRET_EXCHANGE[3], tenant="bob")
    with Memory.open(store, tenant="bob") as bob:
        with pytest.raises(NotFoundError, match=f"no exchange {theirs} "):
            bob.forget(theirs)
        assert bob.forget(text=SECRET).forgotten == [mine]
    assert SECRET_EXCHANGE[3] not in prompts(store, "bob").values()
    assert len(prompts(store)) == len(CORPUS)  # the default tenant's all there
    log.write_text(log.read_text() + "\n")  # a changed file, parsed again
    with Memory.open(store) as memory:
        assert found_anywhere(memory, SECRET, theirs) == MODES
        assert SECRET in memory.verbatim(theirs)
        report = memory.ingest(log)  # bob's tombstone is not the default tenant's
        assert (report.exchanges_skipped, report.exchanges_forgotten_skipped) == (len(CORPUS), 0)


def test_the_cached_llm_answer_goes_too(store: Path, log: Path) -> None:
    # The key as the LLM distiller computed it at ingest: from the parsed exchange.
    (conversation,) = [c for c in get_parser("generic").parse(log, print) if c.source_id == "c5"]
    conversation.project = conversation.project or "generic"
    (exchange,) = split_exchanges(conversation)
    key = asked_text(exchange.project, exchange.messages, 12_000)[1]
    db = sqlite3.connect(store / "memdistill.db")
    db.executemany(
        "INSERT INTO llm_cache VALUES ('m', 'v1', ?, ?, 1, 1, 'now')",
        [(key, json.dumps({"exchange_core": SECRET})), ("other", "{}")],
    )
    db.commit()
    db.close()
    with Memory.open(store) as memory:
        assert memory.forget(text=SECRET).llm_cache_deleted == 1
    db = sqlite3.connect(store / "memdistill.db")
    assert [r[0] for r in db.execute("SELECT content_hash FROM llm_cache")] == ["other"]
    assert SECRET.encode() not in raw_bytes(store)


def test_the_cached_llm_answer_goes_under_the_key_its_memory_recorded(store: Path) -> None:
    """Settings may have changed since (another input cut): the recorded key still finds it."""
    secret_id = id_of(store, SECRET_EXCHANGE[3])
    db = sqlite3.connect(store / "memdistill.db")
    db.execute("UPDATE memories SET llm_cache_key = 'made-under-other-settings' "
               "WHERE exchange_id = ?", [secret_id])  # fmt: skip
    db.execute("INSERT INTO llm_cache VALUES ('m', 'v1', 'made-under-other-settings', ?, 1, 1, "
               "'now')", [json.dumps({"exchange_core": SECRET})])  # fmt: skip
    db.commit()
    db.close()
    with Memory.open(store) as memory:
        assert memory.forget(text=SECRET).llm_cache_deleted == 1
    assert SECRET.encode() not in raw_bytes(store)


def test_memories_merged_into_a_forgotten_one_are_active_again(store: Path) -> None:
    secret_id = id_of(store, SECRET_EXCHANGE[3])
    basil = id_of(store, "How often do I water basil?")
    with Memory.open(store) as memory:
        # What refinement will do; set by hand here (it is built elsewhere).
        with memory.store.transaction() as db:
            generation = memory.store.next_generation(db)
            db.execute(
                "UPDATE memories SET status = 'merged', replaced_by = ? WHERE exchange_id = ?",
                [secret_id, basil],
            )
            db.execute("UPDATE exchanges SET generation = ? WHERE id = ?", [generation, basil])
        assert found_anywhere(memory, "water basil", basil) == []
        plans: list[ForgetPlan] = []

        def confirm(plan: ForgetPlan) -> bool:
            plans.append(plan)
            return True

        report = memory.forget(secret_id, confirm=confirm)
        assert plans[0].restores == 1 and report.restored == [basil]
        assert found_anywhere(memory, "water basil", basil) == MODES
    db = sqlite3.connect(store / "memdistill.db")
    assert db.execute(
        "SELECT status, replaced_by FROM memories WHERE exchange_id = ?", [basil]
    ).fetchone() == ("active", None)
    (detail,) = db.execute(
        "SELECT detail FROM history WHERE exchange_id = ? AND action = 'restored'", [basil]
    ).fetchone()
    assert json.loads(detail)["reason"] == (
        "the memory it was merged into / superseded by was forgotten"
    )


def assert_no_postings(folder: Path, exchange_id: int) -> None:
    secret_terms = np.array([term_id(t) for t in analyze(SECRET)], np.uint64)
    for layer in ("verbatim", "distilled"):
        for segment in (folder / f"{layer}.bm25").glob("seg-*"):
            assert exchange_id not in np.load(segment / "ids.npy")
            assert not np.isin(secret_terms, np.load(segment / "terms.npy")).any()
            assert not list(segment.glob("live-*.npy"))


def test_indexes_opened_later_do_not_return_a_forgotten_id(store: Path, tmp_path: Path) -> None:
    secret_id = id_of(store, SECRET_EXCHANGE[3])
    folder = store / "index" / tenant_folder("default")
    stale = tmp_path / "stale-index"
    shutil.copytree(folder, stale)  # as saved before the forget
    with Memory.open(store) as reader, Memory.open(store) as writer:
        assert found_anywhere(reader, SECRET, secret_id) == MODES  # indexes loaded
        writer.forget(text=SECRET)
        assert found_anywhere(reader, SECRET, secret_id) == []  # caught up from the tombstone
        embedder, generation = writer.embedder, writer.store.generation()
    # The manifest on disk: it is current (not rebuilt from SQLite) and lacks the id.
    on_disk = Indexes.open(folder, embedder.model_id, embedder.dim)
    assert on_disk.generation == generation and len(on_disk) == len(CORPUS) - 1
    assert on_disk.search_text("verbatim", SECRET, 10, None) == []
    # The BM25 files hold no posting of it, not just a mask over one (compacted).
    assert_no_postings(folder, secret_id)
    # Indexes saved before the forget catch up from its tombstone, and purge it there too
    # (a process that had the indexes open when another one forgot saves them the same way).
    shutil.rmtree(folder)
    shutil.copytree(stale, folder)
    with Memory.open(store) as memory:
        assert found_anywhere(memory, SECRET, secret_id) == []
    assert_no_postings(folder, secret_id)
    # And a fresh process.
    done = subprocess.run(
        [sys.executable, "-m", "memdistill.cli", "search", SECRET, "-k", "50", "--json",
         "--store", str(store)], capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert secret_id not in {hit["exchange_id"] for hit in json.loads(done.stdout)}


def test_cli_asks_and_refuses_without_confirmation(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_id = id_of(store, SECRET_EXCHANGE[3])
    args = ["forget", "--text", SECRET, "--store", str(store)]
    # Nobody to ask (stdin is not a terminal): refused, with what to do.
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "pass --yes" in result.output
    assert f"[{secret_id}] garden" in result.output  # it showed what would go
    # The package's `forget` attribute is the command; the module is in sys.modules.
    monkeypatch.setattr(sys.modules["memdistill.cli.forget"], "_interactive", lambda: True)
    result = runner.invoke(app, args, input="n\n")
    assert result.exit_code == 1 and "Nothing was forgotten." in result.output
    assert "1 exchange will be deleted for good" in result.output
    assert secret_id in prompts(store)
    result = runner.invoke(app, args, input="y\n")
    assert result.exit_code == 0, result.output
    assert "Forgot 1 exchange (" in result.output
    assert secret_id not in prompts(store)


def test_cli_yes_and_json(store: Path) -> None:
    basil = id_of(store, "How often do I water basil?")
    base = ["--store", str(store), "--json"]
    result = runner.invoke(app, ["forget", str(basil), "--yes", *base])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["forgotten"] == [basil] and out["confirmed"] and out["scrubbed"]
    assert out["indexed"] == len(CORPUS) - 1
    for args, message in [
        (["forget", str(basil), "--yes"], f"no exchange {basil} in this store"),
        (["forget", "--yes"], "forget needs a selector"),
        (["forget", "--text", "no such words here", "--yes"], "no exchange in this store matches"),
        (["forget", "--since", "last week", "--yes"], "--since takes an ISO date"),
        (["forget", "--project", "garden"], "pass --yes"),  # the question on stderr
    ]:
        result = runner.invoke(app, [*args, *base])
        assert result.exit_code == 1
        assert message in json.loads(result.stdout)["error"]


def test_cli_without_a_terminal_refuses_rather_than_hangs(store: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memdistill.cli", "forget", "--project", "garden", "--store",
         str(store)], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 1 and "pass --yes" in done.stderr
    assert len(prompts(store)) == len(CORPUS)


def test_a_reader_holding_an_old_snapshot_is_reported_not_raised(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("memdistill.store.store.CHECKPOINT_WAIT_MS", 100)
    reader = sqlite3.connect(store / "memdistill.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM messages").fetchone()  # a snapshot held open
    result = runner.invoke(app, ["forget", "--text", SECRET, "--yes", "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "Forgot 1 exchange (" in result.output
    assert "warning: another process is using the store" in result.output
    reader.execute("COMMIT")
    reader.close()
    with Memory.open(store) as memory:
        assert memory.search(SECRET, k=5, mode="verbatim-bm25") == []
        assert memory.store.scrub_pending()
        with pytest.raises(NotFoundError):  # the next forget, selecting nothing ...
            memory.forget(text="no such text anywhere")
        assert not memory.store.scrub_pending()  # ... finished the scrub first
    assert SECRET.encode() not in raw_bytes(store)
