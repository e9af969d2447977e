"""The LLM distiller against a real llama.cpp server (SmolLM2-135M) on loopback, through a
real HTTP proxy that counts, delays and garbles. Nothing is mocked. The model is tiny:
these tests check plumbing (schema, cache, concurrency, fallbacks), never quality."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from corpus import EXCHANGES, write_generic
from fault_proxy import FaultProxy
from typer.testing import CliRunner

from memdistill.api import Memory
from memdistill.cli import app
from memdistill.distill.files import extract_files
from memdistill.distill.llm import LLMDistiller
from memdistill.distill.llm_settings import LLMSettings, load_settings
from memdistill.errors import ConfigError
from memdistill.exchanges import split_exchanges
from memdistill.sources import get_parser

if TYPE_CHECKING:
    from llm_server import LlamaServer, LocalLLM

runner = CliRunner()
SMALL = EXCHANGES[:3]


def settings(base_url: str, **changes: Any) -> LLMSettings:
    """Quick to give up: the tests' faults are deliberate."""
    values: dict[str, Any] = {
        "model": "smollm2-135m",
        "base_url": base_url,
        "api_key_env": "",
        "timeout": 30.0,
        "max_retries": 1,
        "concurrency": 1,
        "max_input_chars": 2500,  # the test server's slots hold 1024 tokens
        "max_tokens": 200,
    }
    values.update(changes)
    return LLMSettings(**values)


def exchanges_of(path: Path) -> list[Any]:
    parser = get_parser("generic")
    out = []
    for conversation in parser.parse(path, lambda problem: None):
        out += split_exchanges(conversation)
    return out


def memories(store: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(store / "memdistill.db")
    db.row_factory = sqlite3.Row
    return db.execute("SELECT * FROM memories ORDER BY exchange_id").fetchall()


def open_llm(store: Path, base_url: str, **changes: Any) -> Memory:
    options = asdict(settings(base_url, **changes))
    return Memory.open(store, distiller="llm", distiller_options=options)


def test_schema_round_trip(tmp_path: Path, llm_server: LocalLLM) -> None:
    exchanges = exchanges_of(write_generic(tmp_path / "c.jsonl", SMALL))
    distiller = LLMDistiller(settings(llm_server.base_url))
    out = distiller.distill_many(exchanges)
    assert len(out) == len(exchanges)
    by_llm = [m for m in out if m.distiller == "llm-v1:smollm2-135m"]
    assert by_llm, [m.note for m in out]
    for memory in by_llm:
        assert memory.exchange_core.strip() and memory.llm_tokens[0] > 0
        assert 1 <= len(memory.room_assignments) <= 3
        assert all(
            r.key.split(":")[0] in ("file", "concept", "workflow") for r in memory.room_assignments
        )
        assert all(0 <= r.relevance <= 1 for r in memory.room_assignments)
    # files_touched is regex-made, whatever the model said
    assert out[0].files_touched == extract_files(exchanges[0])
    assert "src/tidewater/importer.py" in [f.path for f in out[0].files_touched]
    spent = distiller.account()
    assert spent["requests"] >= len(by_llm) and spent["prompt_tokens"] > 0


def test_requests_run_concurrently_within_the_bound(
    tmp_path: Path, llm_server: LocalLLM, fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = fault_proxy()
    exchanges = exchanges_of(write_generic(tmp_path / "c.jsonl", SMALL))
    # Answers cut short on purpose (they fall back): this test is about the requests.
    distiller = LLMDistiller(settings(proxy.base_url, concurrency=2, max_tokens=24))
    out = distiller.distill_many(exchanges)
    assert len(out) == len(exchanges) and proxy.received >= len(exchanges)
    assert proxy.max_in_flight == 2  # the server has 3 slots; the distiller asks 2 at once


def test_second_ingest_makes_no_calls_for_what_was_answered(
    tmp_path: Path, llm_server: LocalLLM
) -> None:
    corpus = write_generic(tmp_path / "c.jsonl", SMALL[:2])
    store = tmp_path / "store"
    flags = ["--distiller", "llm", "--model", llm_server.model, "--base-url",
             llm_server.base_url, "--api-key-env", "", "--store", str(store), "--json",
             "--price-in", "0.15", "--price-out", "0.6"]  # fmt: skip
    before = llm_server.chat_completions
    result = runner.invoke(app, ["ingest", str(corpus), *flags])
    assert result.exit_code == 0, result.output
    calls = llm_server.chat_completions - before
    report = json.loads(result.output)
    assert calls >= 1 and report["llm"]["requests"] == calls
    assert report["llm"]["cost_usd"] > 0
    stored = memories(store)
    assert len(stored) == report["exchanges_added"] == 2
    assert sum(row["llm_prompt_tokens"] for row in stored) > 0
    # Each answered memory records the cache entry it is kept under (forget drops it).
    cached = {r[0] for r in sqlite3.connect(store / "memdistill.db").execute(
        "SELECT content_hash FROM llm_cache")}  # fmt: skip
    recorded = {row["llm_cache_key"] for row in stored if row["llm_cache_key"]}
    assert recorded <= cached and len(recorded) == 2 - report["llm"]["fallbacks"]
    # The same exchanges again, for another user and from a copy of the file: every answer
    # is cached. (What the tiny model failed on was not answered, so it is asked again.)
    answered = 2 - report["llm"]["fallbacks"]
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(corpus.read_bytes())
    before = llm_server.chat_completions
    result = runner.invoke(app, ["ingest", str(copy), *flags, "--tenant", "bob"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.output)["llm"]
    assert again["cache_hits"] == answered
    assert llm_server.chat_completions - before == again["requests"]
    if answered == 2:
        assert again["requests"] == 0
    # Re-distilling with the same model and prompt: the cache answers, nothing changes.
    before = llm_server.chat_completions
    result = runner.invoke(app, ["distill", *flags[:-4]])
    assert result.exit_code == 0, result.output
    redone = json.loads(result.output)
    assert redone["considered"] == 2 and redone["llm"]["cache_hits"] >= answered
    assert llm_server.chat_completions - before == redone["llm"]["requests"]
    assert redone["changed"] <= 2 - answered
    runs = (
        sqlite3.connect(store / "memdistill.db")
        .execute("SELECT command, requests FROM distill_runs ORDER BY id")
        .fetchall()
    )
    assert [r[0] for r in runs] == ["ingest", "ingest", "distill"] and runs[0][1] == calls


def test_server_dying_mid_run_falls_back_and_loses_nothing(
    tmp_path: Path,
    dying_llm_server: LlamaServer,
    fault_proxy: Callable[..., FaultProxy],
) -> None:
    proxy = fault_proxy(
        dying_llm_server.url, after_response=lambda n: n == 1 and dying_llm_server.kill()
    )
    corpus = write_generic(tmp_path / "c.jsonl", EXCHANGES[:4])
    store = tmp_path / "store"
    with open_llm(store, proxy.base_url, breaker=2) as memory:
        report = memory.ingest([corpus])
        assert report.exchanges_added == 4
        assert report.llm is not None and report.llm["fallbacks"] >= 3
        assert "endpoint taken for down after failures in a row" in report.llm["fallback_reasons"]
        hits = memory.search("database is locked", k=3)
        assert hits and "locked" in memory.verbatim(hits[0])
    stored = memories(store)
    assert len(stored) == 4
    fallbacks = [row for row in stored if (row["note"] or "").startswith("LLM fallback:")]
    assert len(fallbacks) == report.llm["fallbacks"]
    assert all(row["distiller"] == "offline-v1" for row in fallbacks)
    # Later, with a server up again: the fallbacks (here those of conversation c2) are redone.
    from llm_server import LlamaServer

    server = LlamaServer(n_parallel=1, log_path=tmp_path / "again.log").start()
    try:
        with open_llm(store, server.base_url, max_retries=3) as memory:
            redone = memory.distill(only_fallbacks=True, conversation="c2")
    finally:
        server.stop()
    # The tiny model may fail again: then the stored memory is kept, never replaced by
    # another stand-in.
    assert redone.considered == 1 and redone.changed + redone.failed == 1
    history = (
        sqlite3.connect(store / "memdistill.db")
        .execute("SELECT COUNT(*) FROM history WHERE action = 'redistilled'")
        .fetchone()[0]
    )
    assert history == redone.changed


def test_slow_server_times_out_into_a_fallback(
    tmp_path: Path, llm_server: LocalLLM, fault_proxy: Callable[..., FaultProxy]
) -> None:
    proxy = fault_proxy(delay_first=2, delay_s=4.0)
    exchanges = exchanges_of(write_generic(tmp_path / "c.jsonl", SMALL[:2]))
    distiller = LLMDistiller(settings(proxy.base_url, timeout=1.0, max_retries=1))
    first, second = distiller.distill_many(exchanges)
    # Both attempts of the first exchange were held past the timeout: it fell back.
    assert first.distiller == "offline-v1" and "timed out" in first.note.lower()
    assert proxy.delayed == 2 and proxy.received >= 3  # the second exchange was asked fairly
    reasons = distiller.account()["fallback_reasons"]
    assert any(reason.startswith("APITimeoutError") for reason in reasons)
    # (The second may time out too: the server is still answering the abandoned requests.)
    assert second.exchange_core


def test_garbled_answers_are_retried_then_fall_back(
    tmp_path: Path, llm_server: LocalLLM, fault_proxy: Callable[..., FaultProxy]
) -> None:
    exchanges = exchanges_of(write_generic(tmp_path / "c.jsonl", SMALL[:2]))
    proxy = fault_proxy(garble_first=1)
    distiller = LLMDistiller(settings(proxy.base_url, max_retries=2))
    (memory,) = distiller.distill_many(exchanges[:1])
    assert proxy.garbled == 1 and proxy.received >= 2  # the garbled answer was asked again
    assert memory.exchange_core
    # Every answer garbled: every exchange is still distilled, offline, saying why.
    proxy = fault_proxy(garble_fraction=1.0, garble_mode="body")
    distiller = LLMDistiller(settings(proxy.base_url, max_retries=1))
    (memory,) = distiller.distill_many(exchanges[1:])
    assert proxy.garbled == 2 and memory.distiller == "offline-v1"
    assert memory.note.startswith("LLM fallback:") and "unreadable response" in memory.note
    assert distiller.account()["fallbacks"] == 1


def test_secrets_never_reach_the_server(
    tmp_path: Path, llm_server: LocalLLM, fault_proxy: Callable[..., FaultProxy]
) -> None:
    secret = "sk-proj-Zx8kQ2mN4pR7tV1wY3aB5cD6eF9gH0jK"
    prompt = f"deploy fails, my key is OPENAI_API_KEY={secret}"
    reply = "The key is fine; the deploy failed on a missing DATABASE_URL."
    leaky = [("c9", "ops", 1, prompt, reply, None, None)]
    proxy = fault_proxy(record=True)
    distiller = LLMDistiller(settings(proxy.base_url))
    (memory,) = distiller.distill_many(exchanges_of(write_generic(tmp_path / "c.jsonl", leaky)))
    sent = json.dumps(proxy.requests)
    assert proxy.requests and secret not in sent and "[REDACTED]" in sent
    assert distiller.account()["redactions"] == 1
    # What the model wrote cannot hold the secret. (A specific_context filled in by the
    # offline extractor is made locally from the original, like any offline memory.)
    if memory.distiller.startswith("llm-"):
        assert secret not in memory.exchange_core


def test_a_langchain_chat_model_can_stand_in_for_the_endpoint(
    tmp_path: Path, llm_server: LocalLLM
) -> None:
    from langchain_openai import ChatOpenAI

    chat_model = ChatOpenAI(
        model=llm_server.model,
        base_url=llm_server.base_url,
        api_key="not-needed",
        temperature=0,
        max_tokens=200,
        max_retries=0,
    )
    corpus = write_generic(tmp_path / "c.jsonl", SMALL[:1])
    store = tmp_path / "store"
    options = {"chat_model": chat_model, "max_retries": 3}
    before = llm_server.chat_completions
    with Memory.open(store, distiller="llm", distiller_options=options) as memory:
        report = memory.ingest([corpus])
    assert (
        report.llm is not None and report.llm["base_url"] == "LangChain ChatOpenAI (smollm2-135m)"
    )
    assert report.llm["requests"] == llm_server.chat_completions - before >= 1
    (row,) = memories(store)
    if row["distiller"] == "llm-v1:smollm2-135m":  # the tiny model may fail all 4 attempts
        assert row["llm_prompt_tokens"] > 0 and row["llm_completion_tokens"] > 0
        before = llm_server.chat_completions
        with Memory.open(store, distiller="llm", distiller_options=options) as memory:
            assert memory.distill().llm["cache_hits"] == 1  # type: ignore[index]
        assert llm_server.chat_completions == before
    else:
        assert row["note"].startswith("LLM fallback: LangChain ChatOpenAI")


def test_a_wrong_endpoint_stops_the_run_with_a_clear_error(
    tmp_path: Path, llm_server: LocalLLM
) -> None:
    corpus = write_generic(tmp_path / "c.jsonl", SMALL)
    store = tmp_path / "store"
    result = runner.invoke(app, ["ingest", str(corpus), "--distiller", "llm", "--model",
                                 llm_server.model, "--base-url", llm_server.direct_url + "/nope",
                                 "--api-key-env", "", "--store", str(store)])  # fmt: skip
    assert result.exit_code == 1
    assert "not found" in result.output and "/v1" in result.output
    assert memories(store) == []  # nothing half-done: a rerun with the right URL starts clean


def test_llm_flags_without_the_llm_distiller_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEMDISTILL_LLM_MODEL", raising=False)
    corpus = write_generic(tmp_path / "c.jsonl", SMALL)
    result = runner.invoke(app, ["ingest", str(corpus), "--model", "gpt-4o-mini"])
    assert result.exit_code == 1 and "--distiller llm" in result.output
    result = runner.invoke(app, ["ingest", str(corpus), "--distiller", "llm"])
    assert result.exit_code == 1 and "needs a model" in result.output
    assert not (tmp_path / "memdistill-home" / "memdistill.db").exists() or not memories(
        tmp_path / "memdistill-home"
    )


def test_settings_come_from_file_then_environment_then_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(
        '[llm]\nmodel = "from-file"\nconcurrency = 2\nprice_in = 0.15\nprice_out = 0.6\n'
    )
    assert load_settings(tmp_path).model == "from-file"
    monkeypatch.setenv("MEMDISTILL_LLM_MODEL", "from-env")
    monkeypatch.setenv("MEMDISTILL_LLM_CONCURRENCY", "3")
    chosen = load_settings(tmp_path, model="from-flag", timeout=None)
    assert (chosen.model, chosen.concurrency, chosen.timeout) == ("from-flag", 3, 60.0)
    assert chosen.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    monkeypatch.setenv("MEMDISTILL_LLM_CONCURRENCY", "many")
    with pytest.raises(ConfigError, match="concurrency"):
        load_settings(tmp_path)
    (tmp_path / "config.toml").write_text("[llm]\nmodle = 'typo'\n")
    monkeypatch.delenv("MEMDISTILL_LLM_CONCURRENCY")
    with pytest.raises(ConfigError, match="unknown LLM setting 'modle'"):
        load_settings(tmp_path)
