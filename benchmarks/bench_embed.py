"""Embedding throughput of both backends, in one process.

Prints, for the ONNX (default) and sentence-transformers backends: the import time of the
backend's packages, the first call (model load plus one query), and sentences per second
on short texts (about 40 tokens, like distilled memories) and long ones (256 tokens and
more, like verbatim exchanges) at batch sizes 16, 32 and 64.

Texts are real when ../shared/data is present (LoCoMo dialogue turns for the short set,
Claude Code console output and ChatGPT messages for the long one), generated otherwise.

    python benchmarks/bench_embed.py [--short 256] [--long 64] [--repeat 3] [--backends onnx st]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memdistill.embed import Embedder

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MEMDISTILL_SHARED_DATA", REPO.parent / "shared" / "data"))
BATCH_SIZES = (16, 32, 64)
#: The packages each backend imports on first use (what "import" times below).
BACKEND_IMPORTS = {
    "onnx": ("onnxruntime", "tokenizers"),
    "sentence-transformers": ("torch", "sentence_transformers"),
}


# -- texts ---------------------------------------------------------------------------


def _strings(node: object, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for value in node.values():
            _strings(value, out)
    elif isinstance(node, list):
        for value in node:
            _strings(value, out)


def _short_real(data: Path) -> list[str]:
    """LoCoMo turns joined up to 20 words or more: ~40 tokens, like a distilled memory."""
    turns: list[str] = []
    for conv in json.loads((data / "locomo-dev.json").read_text()):
        sessions = conv["conversation"]
        for key in sorted(k for k in sessions if re.fullmatch(r"session_\d+", k)):
            turns += [t["text"] for t in sessions[key] if isinstance(t, dict) and "text" in t]
    texts, current = [], ""
    for turn in turns:
        current = f"{current} {turn}".strip()
        if len(current.split()) >= 20:
            texts.append(current)
            current = ""
    return texts


def _long_real(data: Path) -> list[str]:
    """Exchanges of the console export and long ChatGPT messages, 1,500+ characters."""
    md = (data / "claude-code-console-export.md").read_text()
    texts = [c for c in re.split(r"\n(?=> )", md) if len(c) >= 1_500]
    strings: list[str] = []
    _strings(json.loads((data / "chatgpt-export-sample.json").read_text()), strings)
    texts += [s for s in strings if len(s) >= 1_500]
    return texts


def _generated(n_words: int, count: int) -> list[str]:
    vocab = ["agent", "test", "fixture", "database", "index", "query", "vector", "embedding"]
    vocab += ["retry", "timeout", "server", "config", "file", "path", "error", "traceback"]
    vocab += ["commit", "branch", "merge", "deploy", "container", "network", "token"]
    vocab += ["budget", "memory", "room", "distill", "exchange", "verbatim", "score", "rank"]
    return [
        " ".join(vocab[(i * 7 + j * 3 + j // 5) % len(vocab)] for j in range(n_words))
        for i in range(count)
    ]


def _take(texts: list[str], n: int) -> list[str]:
    """``n`` texts, cycling (with a suffix, so no two are identical) if there are fewer."""
    return [texts[i % len(texts)] + ("" if i < len(texts) else f" ({i})") for i in range(n)]


def load_texts(n_short: int, n_long: int) -> tuple[list[str], list[str], str]:
    if SHARED_DATA.is_dir():
        short, long = _short_real(SHARED_DATA), _long_real(SHARED_DATA)
        source = f"real ({len(short)} short, {len(long)} long in {SHARED_DATA})"
    else:
        short, long = _generated(25, n_short), _generated(400, n_long)
        source = "generated (../shared/data is absent)"
    return _take(short, n_short), _take(long, n_long), source


# -- measuring ---------------------------------------------------------------------------


def _rate(embedder: Embedder, texts: list[str], batch_size: int, repeat: int) -> float:
    """Sentences per second, the best of ``repeat`` runs (other load only slows a run)."""
    embedder.embed(texts[: batch_size * 2], batch_size=batch_size)  # warm up this shape
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        embedder.embed(texts, batch_size=batch_size)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def bench(name: str, short: list[str], long: list[str], repeat: int) -> dict[str, float]:
    from memdistill.embed import get_embedder

    start = time.perf_counter()
    for module in BACKEND_IMPORTS[name]:
        importlib.import_module(module)
    imported = time.perf_counter() - start

    embedder = get_embedder(name)
    start = time.perf_counter()
    embedder.embed_query("warm up: load the model")
    loaded = time.perf_counter() - start

    row = {"import_s": imported, "first_call_s": loaded}
    for batch_size in BATCH_SIZES:
        row[f"short_{batch_size}"] = _rate(embedder, short, batch_size, repeat)
        row[f"long_{batch_size}"] = _rate(embedder, long, batch_size, repeat)
    return row


def _token_stats(texts: list[str]) -> str:
    from tokenizers import Tokenizer

    from memdistill.embed.onnx_minilm import default_tokenizer_path

    tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    counts = sorted(len(tokenizer.encode(t).ids) for t in texts[:500])
    return f"median {counts[len(counts) // 2]} tokens (min {counts[0]}, max {counts[-1]})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=256, help="short texts per run")
    parser.add_argument("--long", type=int, default=64, help="long texts per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure, best kept")
    parser.add_argument(
        "--backends", nargs="+", default=["onnx", "sentence-transformers"], help="names"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a script: nothing may reach a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sys.path.insert(0, str(REPO))

    start = time.perf_counter()
    from memdistill.embed import ALIASES

    package_import = time.perf_counter() - start
    names = [ALIASES.get(n, n) for n in args.backends]
    short, long, source = load_texts(args.short, args.long)
    # Backends first, so their import times are not flattered by earlier imports.
    rows = {name: bench(name, short, long, args.repeat) for name in names}

    print(f"texts: {source}")
    print(f"short: {len(short)} texts, {_token_stats(short)}")
    print(f"long:  {len(long)} texts, {_token_stats(long)} (the model reads 256)")
    print(f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.2f} (others slow runs)")
    print(f"import memdistill.embed: {package_import:.2f} s (no backend loaded)")
    print()
    head = f"{'backend':<22}{'import s':>9}{'1st call s':>11}"
    for kind in ("short", "long"):
        head += "".join(f"{f'{kind}@{b}':>10}" for b in BATCH_SIZES)
    print(head + "   (sentences/s)")
    print("-" * len(head))
    for name, row in rows.items():
        line = f"{name:<22}{row['import_s']:>9.2f}{row['first_call_s']:>11.2f}"
        for kind in ("short", "long"):
            line += "".join(f"{row[f'{kind}_{b}']:>10.0f}" for b in BATCH_SIZES)
        print(line)


if __name__ == "__main__":
    main()
