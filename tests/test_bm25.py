"""The analyzer and the segmented BM25 index, cross-checked against rank-bm25."""

from __future__ import annotations

import json
import math
import random
import threading
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from memdistill.errors import StoreError
from memdistill.index.analyze import STOPWORDS, analyze, analyze_counts, analyze_many
from memdistill.index.bm25 import BM25Index

# ---------------------------------------------------------------- analyzer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello_world", ["hello_world", "hello", "world"]),
        ("getUserName", ["getusernam", "get", "user", "name"]),
        ("HTTPServer2", ["httpserver2", "http", "server", "2"]),
        ("XMLHttpRequest", ["xmlhttprequest", "xml", "http", "request"]),
        ("app.py", ["app", "py"]),
        ("src/memdistill/index/bm25.py", ["src", "memdistil", "index", "bm25", "bm", "25", "py"]),
        ("__init__", ["__init__", "init"]),
        ("the_end", ["the_end", "end"]),
        ("The dogs are running", ["dog", "run"]),
        ("Running RUNS ran", ["run", "run", "ran"]),
        ("import re; os.path.join", ["import", "re", "os", "path", "join"]),
        ("café Straße", ["café", "straße"]),
        ("x" * 64, ["x" * 64]),
        ("x" * 65, []),
        ("id 12345678 and 123456789", ["id", "12345678"]),
        ("commit a3f9c2e1b4d5", ["commit", "a3f9c2e1b4d5"]),
        ("0bdd2740-b6f7-4e7b", ["0bdd2740", "b6f7", "4e7b"]),
        ("bm25 utf8", ["bm25", "bm", "25", "utf8", "utf", "8"]),
        ("___", []),
    ],
)  # fmt: skip
def test_analyzer_table(text: str, expected: list[str]) -> None:
    assert analyze(text) == expected


def test_stopwords_are_a_small_lowercase_set() -> None:
    assert 120 <= len(STOPWORDS) <= 180
    assert all(w == w.lower() and "'" not in w for w in STOPWORDS)
    assert analyze(" ".join(sorted(STOPWORDS))) == []


def test_fast_paths_agree_with_analyze() -> None:
    texts = ["Fix the getUserName bug in app.py", "", "running tests: 3 failed, 12 passed"]
    assert analyze_many(texts) == [analyze(t) for t in texts]
    for t in texts:
        assert sorted(analyze_counts(t).elements()) == sorted(analyze(t))


HOSTILE = [
    "",
    "   ",
    '"unbalanced quote',
    "NOT AND OR",
    "foo AND NOT bar*",
    "((((x",
    "a) OR (b",
    "*",
    "!!! ??? ...",
    "🙂🔥 emoji only 🚀",
    "\x00\x01 control \udcff surrogate",
    "DROP TABLE memories; --",
    "col:value^2 ~fuzzy",
    "word " * 20_000,  # ~100 KB
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_break(query: str) -> None:
    assert isinstance(analyze(query), list)
    index = BM25Index()
    index.add([1, 2], ["a word about foo and bar", "emoji tests and x marks"])
    results = index.search(query, 5)
    assert all(isinstance(i, int) and s > 0 for i, s in results)


# ---------------------------------------------------------------- reference scores


class LuceneBM25(BM25Okapi):
    """rank-bm25 with Lucene's idf, the formula BM25Index implements."""

    def _calc_idf(self, nd: dict[str, int]) -> None:
        for word, freq in nd.items():
            self.idf[word] = math.log(1 + (self.corpus_size - freq + 0.5) / (freq + 0.5))


CORPUS = [
    "Fix the failing test in tests/test_store.py: sqlite3.OperationalError database is locked",
    "Add a retry with exponential backoff to the HTTP client; HTTPServer2 returned 503",
    "Refactor getUserName into user_service.get_user_name and update the callers",
    "The embedding model all-MiniLM-L6-v2 runs with ONNX Runtime, no torch needed",
    "Run pytest -q and ruff check; mypy --strict reports 3 errors in bm25.py",
    "Why is the BM25 index slow? rank-bm25 takes 189 ms per query on 14,000 documents",
    "Use WAL mode for SQLite so readers do not block the writer",
    "",
    "!!! ???",
    "Merge the smallest segments when there are more than eight segments",
    "The user asked to rename app.py to main.py and update the Dockerfile",
    "docker compose up failed: port 5432 is already allocated by postgres",
    "Error: ModuleNotFoundError: No module named 'numpy' when running the benchmark",
    "index index index index index the word index repeated many times in one document",
    "Kubernetes pod CrashLoopBackOff because the readiness probe hits /healthz too early",
    "git rebase -i HEAD~3 then force push the feature branch after squashing commits",
]
QUERIES = [
    "database is locked",
    "sqlite locked WAL readers",
    "getUserName",
    "user name",
    "HTTP 503 retry",
    "bm25 slow query",
    "index index",
    "index",
    "app.py rename",
    "pytest mypy ruff errors",
    "numpy module not found",
    "postgres port 5432",
    "segments merge smallest",
    "nothing matches zyxwv",
    "docker",
]


def _synthetic_corpus(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    words = " ".join(CORPUS).split()
    extra = ["parse_config", "loadIndex", "src/app/main.py", "42", "timeout", "segment"]
    pool = words + extra
    return [" ".join(rng.choices(pool, k=rng.randint(0, 60))) for _ in range(n)]


def _reference(texts: list[str], query: str) -> np.ndarray:
    ref = LuceneBM25([analyze(t) for t in texts], k1=1.2, b=0.75)
    return np.asarray(ref.get_scores(analyze(query)))


def _all_scores(index: BM25Index, ids: list[int], query: str) -> np.ndarray:
    got = dict(index.search(query, k=len(ids) + 10))
    return np.array([got.get(i, 0.0) for i in ids])


def _build(texts: list[str], ids: list[int], how: str, tmp_path: Path) -> BM25Index:
    if how == "one-add":
        index = BM25Index()
        index.add(ids, texts)
        return index
    index = BM25Index(max_segments=3 if how == "merging" else 1000)
    rng = random.Random(3)
    order = list(range(len(ids)))
    rng.shuffle(order)  # segments hold interleaved ids
    for start in range(0, len(order), 5):
        chunk = order[start : start + 5]
        index.add([ids[i] for i in chunk], [texts[i] for i in chunk])
    if how == "merged-to-one":
        index.merge()
        assert index.segment_count == 1
    if how == "saved-and-loaded":
        index.save(tmp_path / "bm25", {"generation": 1})
        index, _ = BM25Index.load(tmp_path / "bm25")
    return index


@pytest.mark.parametrize(
    "how", ["one-add", "many-segments", "merging", "merged-to-one", "saved-and-loaded"]
)
@pytest.mark.parametrize("corpus", ["handwritten", "synthetic"])
def test_scores_equal_rank_bm25(how: str, corpus: str, tmp_path: Path) -> None:
    texts = CORPUS if corpus == "handwritten" else _synthetic_corpus(120)
    ids = [1000 + 7 * i for i in range(len(texts))]
    index = _build(texts, ids, how, tmp_path)
    assert len(index) == len(texts)
    if how == "merging":
        assert index.segment_count <= 3
    for query in QUERIES:
        np.testing.assert_allclose(
            _all_scores(index, ids, query), _reference(texts, query), rtol=1e-5, atol=1e-9
        )


def test_scores_stay_exact_after_removals_and_replacements() -> None:
    texts = _synthetic_corpus(80, seed=11)
    ids = list(range(1, 81))
    index = BM25Index(max_segments=4)
    for start in range(0, 80, 10):
        index.add(ids[start : start + 10], texts[start : start + 10])
    assert index.remove([3, 4, 5, 999]) == 3  # 999 was never indexed
    replaced = {10: "a brand new text about parse_config timeout", 50: "segment merge index"}
    index.add(list(replaced), list(replaced.values()))
    live = {i: t for i, t in zip(ids, texts, strict=True) if i not in (3, 4, 5)} | replaced
    live_ids = sorted(live)
    assert index.ids().tolist() == live_ids
    for query in [*QUERIES, "parse_config timeout", "segment"]:
        np.testing.assert_allclose(
            _all_scores(index, live_ids, query),
            _reference([live[i] for i in live_ids], query),
            rtol=1e-5,
            atol=1e-9,
        )


def test_replace_and_remove() -> None:
    index = BM25Index()
    index.add([1, 2], ["apple pie", "apple juice"])
    index.add([1], ["banana bread"])
    assert len(index) == 2
    assert [i for i, _ in index.search("apple", 10)] == [2]
    assert [i for i, _ in index.search("banana", 10)] == [1]
    index.add([3, 3], ["first cherry", "second cherry"])  # the last text of an id wins
    assert index.search("first", 5) == []
    assert index.remove([2, 2, 7]) == 1
    assert index.remove([2]) == 0
    assert index.search("apple", 10) == []
    assert index.remove([1, 3]) == 2
    assert len(index) == 0 and index.segment_count == 0 and index.search("banana", 3) == []
    assert index.ids().dtype == np.int64 and len(index.ids()) == 0


def test_merges_purge_deleted_docs_and_keep_the_segment_count_bounded() -> None:
    index = BM25Index(max_segments=4)
    texts = _synthetic_corpus(200, seed=2)
    for start in range(0, 200, 10):
        index.add(range(start, start + 10), texts[start : start + 10])
        assert index.segment_count <= 4
    index.remove(range(0, 200, 2))
    index.merge()
    (segment,) = index._segments
    assert len(segment.ids) == len(index) == 100 and segment.live is None
    assert segment.ids.tolist() == list(range(1, 200, 2))


def test_allowed_restricts_before_ranking() -> None:
    index = BM25Index()
    strong = [f"error error error timeout {i}" for i in range(50)]
    weak = [f"a long text that mentions error once among many other words {i}" for i in range(50)]
    index.add(range(100), strong + weak)
    unrestricted = dict(index.search("error", k=100))
    allowed = np.arange(50, 100, 2, dtype=np.int64)
    results = index.search("error", k=10, allowed=allowed)
    assert len(results) == 10
    assert {i for i, _ in results} <= set(allowed.tolist())
    for i, score in results:
        assert score == pytest.approx(unrestricted[i])  # statistics stay global
    assert index.search("error", 10, allowed=np.array([], np.int64)) == []
    assert [i for i, _ in index.search("error", 5, allowed=[99, 1, 60])] == [1, 60, 99]
    assert index.search("error", 5, allowed=np.array([500, 600])) == []


def test_results_ordered_by_score_then_id() -> None:
    index = BM25Index()
    index.add([9, 4, 7, 1], ["apple pie", "apple pie", "apple pie", "other pie"])
    results = index.search("apple", k=2)
    assert [i for i, _ in results] == [4, 7]
    assert results[0][1] == results[1][1] > 0
    assert [i for i, _ in index.search("pie apple", k=10)] == [4, 7, 9, 1]
    assert index.search("apple", k=0) == []


# ---------------------------------------------------------------- persistence


def test_save_load_round_trip_and_incremental_save(tmp_path: Path) -> None:
    folder = tmp_path / "verbatim.bm25"
    texts = _synthetic_corpus(60, seed=5)
    index = BM25Index(k1=1.5, b=0.6, max_segments=3)
    for start in range(0, 40, 10):
        index.add(range(start, start + 10), texts[start : start + 10])
    index.save(folder, {"generation": 4})
    first = {p.parent.name: p.stat().st_ino for p in folder.glob("seg-*/terms.npy")}

    loaded, meta = BM25Index.load(folder)
    assert meta == {"generation": 4}
    assert (loaded.k1, loaded.b, len(loaded)) == (1.5, 0.6, 40)
    for query in QUERIES:
        assert loaded.search(query, 15) == index.search(query, 15)

    loaded.remove([0, 1])  # a live mask changes, segments on disk stay
    loaded.add(range(40, 45), texts[40:45])
    loaded.save(folder, {"generation": 5})
    again, meta = BM25Index.load(folder)
    assert meta == {"generation": 5} and len(again) == 43
    for query in QUERIES:
        assert again.search(query, 15) == loaded.search(query, 15)
    on_disk = {p.name for p in folder.glob("seg-*")}
    assert on_disk == {json_seg["name"] for json_seg in _manifest(folder)["segments"]}
    for name, inode in first.items():  # untouched segments are not rewritten
        if name in on_disk:
            assert (folder / name / "terms.npy").stat().st_ino == inode
    assert not list(folder.glob(".tmp*")) and not list(folder.glob("*.tmp"))
    live_files = sorted(p.name for p in folder.glob("seg-*/live-*.npy"))
    assert len(live_files) <= len(on_disk)

    again.merge()  # merged-away segment folders are removed after the manifest
    again.save(folder, {})
    assert len(list(folder.glob("seg-*"))) == 1
    assert BM25Index.load(folder)[0].search("segment", 50) == again.search("segment", 50)


def _manifest(folder: Path) -> dict[str, object]:
    data = json.loads((folder / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def test_save_cleans_leftovers_of_an_interrupted_save(tmp_path: Path) -> None:
    folder = tmp_path / "bm25"
    index = BM25Index()
    index.add([1, 2], ["first text", "second text"])
    index.save(folder, {})
    (folder / "seg-00000000deadbeef").mkdir()  # written by a save that never got its manifest
    (folder / ".tmp-seg-0000000012345678").mkdir()
    index.add([3], ["third text"])
    index.save(folder, {})
    names = {p.name for p in folder.iterdir()}
    assert names == {"manifest.json", *(s.name for s in index._segments)}
    assert [i for i, _ in BM25Index.load(folder)[0].search("text", 5)] == [1, 2, 3]


def test_load_missing_folder_is_empty(tmp_path: Path) -> None:
    index, meta = BM25Index.load(tmp_path / "absent")
    assert len(index) == 0 and meta == {} and index.search("anything", 5) == []
    empty = BM25Index()
    empty.save(tmp_path / "empty", {"n": 0})
    assert len(BM25Index.load(tmp_path / "empty")[0]) == 0


@pytest.mark.parametrize("damage", ["garbage-manifest", "truncated-array", "missing-array",
                                    "wrong-version", "manifest-deleted"])  # fmt: skip
def test_damaged_index_raises_store_error(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "bm25"
    index = BM25Index()
    index.add(range(20), _synthetic_corpus(20))
    index.save(folder, {})
    seg = next(folder.glob("seg-*"))
    if damage == "garbage-manifest":
        (folder / "manifest.json").write_bytes(b"{not json\xff")
    elif damage == "truncated-array":
        data = (seg / "docs.npy").read_bytes()
        (seg / "docs.npy").write_bytes(data[: len(data) // 2])
    elif damage == "missing-array":
        (seg / "terms.npy").unlink()
    elif damage == "wrong-version":
        manifest = _manifest(folder) | {"version": 99}
        (folder / "manifest.json").write_text(json.dumps(manifest))
    else:
        (folder / "manifest.json").unlink()
    with pytest.raises(StoreError, match="memdistill reindex"):
        BM25Index.load(folder)


# ---------------------------------------------------------------- concurrency


def test_concurrent_searches_while_a_writer_adds() -> None:
    """Each add brings 10 new ids and replaces 5 old ones: a reader must always see a
    multiple of 10 live docs, never a duplicate id, and a count that never shrinks."""
    index = BM25Index(max_segments=4)
    index.add(range(10), [f"alpha doc {i}" for i in range(10)])
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        rng = random.Random(1)
        try:
            for step in range(1, 60):
                new = list(range(step * 10, step * 10 + 10))
                old = rng.sample(range(step * 10), 5)
                ids = new + old
                index.add(ids, [f"alpha version {step} doc {i} beta" for i in ids])
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        seen = 0
        try:
            while not stop.is_set():
                results = index.search("alpha", k=10_000)
                ids = [i for i, _ in results]
                assert len(ids) == len(set(ids))
                assert len(ids) % 10 == 0 and len(ids) >= seen
                seen = len(ids)
                allowed = np.arange(0, 10_000, 3, dtype=np.int64)
                assert all(i % 3 == 0 for i, _ in index.search("beta doc", 50, allowed))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors[0]
    assert len(index) == 600 and index.segment_count <= 4
    assert len(index.search("alpha", k=10_000)) == 600
