"""Search over a real store: every mode and fusion, filters as WHERE, hostile queries,
drill-down, rooms, tenants, threads, reindex."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus import EXCHANGES, write_generic

from memdistill.api import Memory
from memdistill.errors import EmbedderMismatchError, NotFoundError, QueryError
from memdistill.retrieve.fusion import FUSIONS
from memdistill.retrieve.modes import MODES


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("search")
    with Memory.open(folder / "store") as memory:
        memory.ingest(write_generic(folder / "notes.jsonl"))
    return folder / "store"


@pytest.fixture
def memory(store: Path) -> Iterator[Memory]:
    with Memory.open(store, create=False) as opened:
        yield opened


def first_prompt(memory: Memory, hits: list) -> str:  # type: ignore[type-arg]
    return memory.drill_down(hits[0])[0].text


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_mode_and_fusion_finds_the_obvious_exchange(
    memory: Memory, mode: str, fusion: str
) -> None:
    hits = memory.search(
        "sqlite database is locked busy_timeout WAL", k=3, mode=mode, fusion=fusion
    )
    assert 1 <= len(hits) <= 3
    assert first_prompt(memory, hits) == "Why do writes fail under load?"
    assert set(hits[0].ranks) <= set(mode.split("+")) or mode in ("distilled-hybrid", "all")
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_hit_carries_the_whole_memory(memory: Memory) -> None:
    hit = memory.search("Dockerfile uvicorn port", k=1)[0]
    assert hit.memory.exchange_core and hit.memory.distiller == "offline-v1"
    assert 1 <= len(hit.rooms) <= 3
    assert any(f.path == "Dockerfile" for f in hit.files)
    assert hit.source_message_ids == ["m3-u", "m3-call#tool0", "m3-out", "m3-a"]
    assert hit.project == "tidewater" and hit.conversation_id == "c2"
    assert hit.started_at == datetime(2026, 3, 5, 10, 3, tzinfo=UTC)
    assert "verbatim-bm25" in hit.ranks and "distilled-vector" in hit.ranks
    verbatim = memory.drill_down(hit)
    assert [m.kind for m in verbatim] == ["prompt", "tool_call", "tool_result", "text"]
    assert verbatim[1].tool is not None and verbatim[1].tool.input["command"].startswith("docker")


def test_filters_restrict_before_ranking(memory: Memory) -> None:
    # Five tidewater-free hits exist only in the garden project: k results come back, all allowed.
    garden = memory.search("sqlite database locked", k=5, project="garden")
    assert len(garden) == 2 and {h.project for h in garden} == {"garden"}
    assert {h.conversation_id for h in memory.search("docker", k=10, conversation="c2")} == {"c2"}
    late = memory.search("client", k=10, since=datetime(2026, 3, 10, tzinfo=UTC))
    assert [h.conversation_id for h in late] == ["c4"]
    early = memory.search("importer", k=10, until=datetime(2026, 3, 3, tzinfo=UTC))
    assert {h.conversation_id for h in early} == {"c1"}
    by_file = memory.search("fix", k=10, file="db.py")
    assert [first_prompt(memory, by_file)] == ["Why do writes fail under load?"]
    assert len(by_file) == 1
    assert memory.search("fix", k=10, file="nothing_like_this.py") == []


@pytest.mark.parametrize(
    "query",
    [
        '"unbalanced quote',
        "NOT AND OR",
        "*",
        "(((",
        "docker)",
        "-",
        "",
        "   ",
        "🙂🙂",
        "SELECT * FROM exchanges; --",
        "a" * 20_000,
        "%_\\",
    ],
)
def test_hostile_queries_never_break(memory: Memory, query: str) -> None:
    for mode in ("verbatim-bm25+distilled-vector", "distilled-bm25", "all"):
        assert isinstance(memory.search(query, k=5, mode=mode), list)
    assert isinstance(memory.search(query, k=5, file=query or "x"), list)


def test_bad_requests_say_what_to_do(memory: Memory) -> None:
    with pytest.raises(QueryError, match="unknown search mode"):
        memory.search("x", mode="fuzzy")
    with pytest.raises(QueryError, match="k must be"):
        memory.search("x", k=0)
    with pytest.raises(QueryError, match="unknown fusion"):
        memory.search("x", mode="verbatim-bm25", fusion="borda")
    with pytest.raises(QueryError, match="one per layer"):
        memory.search("x", mode="verbatim-bm25+distilled-vector", fusion="convex", weights=[1])
    with pytest.raises(QueryError, match="convex"):
        memory.search("x", weights=[0.5, 0.5])
    with pytest.raises(NotFoundError, match="no exchange 9999"):
        memory.drill_down(9999)


def test_rooms_and_room(memory: Memory) -> None:
    rooms = memory.rooms()
    keys = {r.key for r in rooms}
    assert "file:Dockerfile" in keys and any(k.startswith("workflow:") for k in keys)
    assert all(r.exchanges >= 1 for r in rooms)
    timeline = memory.room("file:Dockerfile")
    assert [h.conversation_id for h in timeline] == ["c2"]
    with pytest.raises(NotFoundError, match="memdistill rooms"):
        memory.room("file:none")


def test_stats(memory: Memory) -> None:
    stats = memory.stats()
    assert stats.exchanges == len(EXCHANGES) and stats.conversations == 4
    assert stats.projects == {"tidewater": 6, "garden": 2}
    assert stats.verbatim_tokens > stats.distilled_tokens > 0
    assert stats.embedder == "all-MiniLM-L6-v2:onnx-int8"


def test_searches_from_many_threads_agree(memory: Memory) -> None:
    queries = ["docker build", "tomatoes frost", "httpx requests", "latin-1 csv"] * 10
    expected = {q: [h.exchange_id for h in memory.search(q, k=3)] for q in set(queries)}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda q: [h.exchange_id for h in memory.search(q, k=3)], queries))
    assert results == [expected[q] for q in queries]


def test_tenants_are_isolated(tmp_path: Path) -> None:
    log = write_generic(tmp_path / "a.jsonl", EXCHANGES[:3])
    other = write_generic(tmp_path / "b.jsonl", EXCHANGES[5:7])
    with Memory.open(tmp_path / "s", tenant="alice") as alice:
        alice.ingest(log)
    with Memory.open(tmp_path / "s", tenant="bob") as bob:
        bob.ingest(other)
        assert {h.project for h in bob.search("database locked docker csv", k=10)} == {"garden"}
        alice_id = bob.store.db.execute(
            "SELECT id FROM exchanges WHERE tenant = 'alice' LIMIT 1"
        ).fetchone()[0]
        with pytest.raises(NotFoundError):
            bob.drill_down(alice_id)
        assert bob.stats().exchanges == 2


def test_another_memory_writing_is_seen_by_an_open_memory(tmp_path: Path) -> None:
    with Memory.open(tmp_path / "s") as reader, Memory.open(tmp_path / "s") as writer:
        writer.ingest(write_generic(tmp_path / "a.jsonl", EXCHANGES[:2]))
        assert reader.search("tomatoes frost", k=5, project="garden") == []
        writer.ingest(write_generic(tmp_path / "b.jsonl", EXCHANGES[5:6]))
        assert len(reader.search("tomatoes frost", k=5, project="garden")) == 1


def test_reindex_rebuilds_the_same_results(tmp_path: Path) -> None:
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest(write_generic(tmp_path / "a.jsonl"))
        before = [(h.exchange_id, round(h.score, 6)) for h in memory.search("docker ci", k=5)]
        assert memory.reindex() == len(EXCHANGES)
        after = [(h.exchange_id, round(h.score, 6)) for h in memory.search("docker ci", k=5)]
        assert after == before


def test_damaged_index_files_are_rebuilt_from_sqlite(tmp_path: Path) -> None:
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest(write_generic(tmp_path / "a.jsonl"))
        expected = [h.exchange_id for h in memory.search("docker ci", k=5)]
    (folder,) = (tmp_path / "s" / "index").iterdir()  # the tenant's folder
    (folder / "distilled.faiss").write_bytes(b"garbage")
    with Memory.open(tmp_path / "s") as memory:
        assert [h.exchange_id for h in memory.search("docker ci", k=5)] == expected
    (folder / "verbatim.faiss").unlink()  # lost, while the manifest still names it
    with Memory.open(tmp_path / "s") as memory:
        assert [h.exchange_id for h in memory.search("docker ci", k=5)] == expected
        assert len(memory.indexes.vectors["verbatim"]) == len(EXCHANGES)


def test_store_refuses_vectors_of_another_model(tmp_path: Path) -> None:
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest(write_generic(tmp_path / "a.jsonl", EXCHANGES[:1]))
        memory.store.set_meta(memory.store.db, "embedder", "some-other-model")
        memory.store.db.commit()
    with (
        Memory.open(tmp_path / "s") as memory,
        pytest.raises(EmbedderMismatchError, match="reindex --embedder"),
    ):
        memory.search("docker")


def test_reindex_with_another_embedder_reembeds_everything(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    with Memory.open(tmp_path / "s") as memory:
        memory.ingest(write_generic(tmp_path / "a.jsonl", EXCHANGES[:4]))
        assert memory.reindex(embedder="sentence-transformers") == 4
        assert memory.store.get_meta("embedder") == "all-MiniLM-L6-v2:sentence-transformers"
        hits = memory.search("Dockerfile uvicorn", k=1, mode="distilled-vector")
        assert memory.drill_down(hits[0])[0].text == "Add a Dockerfile for the API"
    with Memory.open(tmp_path / "s") as memory:  # the recorded backend is used by default
        assert memory.search("Dockerfile", k=1)
    with (
        Memory.open(tmp_path / "s", embedder="onnx") as memory,
        pytest.raises(EmbedderMismatchError),
    ):
        memory.search("Dockerfile", k=1)
