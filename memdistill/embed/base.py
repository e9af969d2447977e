"""The embedder base: one abstract method, the conveniences around it.

A backend implements :meth:`Embedder._embed_batch` (a list of already prepared texts in,
one row per text out) and sets :attr:`Embedder.model_id` and :attr:`Embedder.dim`.
Everything else lives here, once, for every backend:

- **Long texts.** all-MiniLM-L6-v2 reads at most 256 word pieces. A 100 KB tool output is
  first cut to a character budget (``max_tokens * chars_per_token``, at a whitespace
  boundary when one is near) so it is never tokenized in full; the model then truncates
  to 256 tokens. Measured on the real coding-agent logs in ``../shared/data``, a budget of
  4 characters per token changes the first 256 tokens of half the long texts (code and
  logs run 1.4-8 characters per token), so the budget is 6 per token, and a backend that
  can count tokens (:meth:`Embedder._count_tokens`) widens it, doubling up to
  :attr:`Embedder.max_chars`, until the cut text fills the window: then the cut text has
  the same first 256 tokens as the whole text, and the same vector.
- **Batching.** Texts are sorted by length so each batch pads little, embedded
  ``batch_size`` at a time and put back in the caller's order.
- **Normalisation.** Rows are L2-normalised float32. A row whose norm is (near) zero is
  returned as zeros rather than divided by zero; neither shipped model produces one.
- **Blank text.** An empty or whitespace-only string is tokenized as ``[CLS] [SEP]`` and
  embeds, like in sentence-transformers, to one fixed unit vector (the same for every
  blank string); it is not an error and not a zero vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]

#: How close to the character budget a whitespace must be for the cut to use it.
_WHITESPACE_WINDOW = 200


def clip_text(text: str, max_chars: int) -> str:
    """``text`` cut to at most ``max_chars`` characters, at a whitespace if one is near.

    Cutting at whitespace keeps every word before the cut whole, so the cut text tokenizes
    to a prefix of the whole text's tokens (the BERT pre-tokenizer splits on whitespace).
    """
    if len(text) <= max_chars:
        return text
    head = text[:max_chars]
    floor = max(0, max_chars - _WHITESPACE_WINDOW)
    for i in range(len(head) - 1, floor - 1, -1):
        if head[i].isspace():
            return head[:i]
    return head


def l2_normalise(rows: npt.NDArray[np.floating]) -> Vectors:
    """Rows scaled to unit length, as float32; all-zero rows stay zero."""
    out = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    unit: Vectors = (out / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)
    return unit


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors.

    Subclasses implement :meth:`_embed_batch` and set :attr:`model_id` and :attr:`dim`;
    they may implement :meth:`_count_tokens` to make long-text cutting exact. Instances
    must be safe to share between threads (load lazily, under a lock).
    """

    #: Names the vector space. The store records it and refuses to mix vectors of two
    #: ids, so two backends that run "the same" model with different arithmetic (int8
    #: ONNX, fp32 torch) have different ids.
    model_id: ClassVar[str]
    #: Length of every vector.
    dim: ClassVar[int]
    #: The model's window in word pieces, [CLS] and [SEP] included.
    max_tokens: ClassVar[int] = 256
    #: First character budget per token when cutting long texts (see the module doc).
    chars_per_token: ClassVar[int] = 6
    #: The widest a long text is ever cut to before tokenizing (48 characters per token).
    max_chars: ClassVar[int] = 256 * 48
    #: Padded characters one batch may hold: 4 full windows at 6 characters a token.
    #: Measured on 96 long texts (ONNX, 2 cores): 4 windows 377 MB peak RSS at 17 texts/s,
    #: 8 windows 512 MB at 19/s, 16 windows 840 MB at 18/s.
    batch_chars: ClassVar[int] = 4 * 256 * 6

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.floating]:
        """One row per text, in order: shape ``(len(texts), dim)``.

        ``texts`` is non-empty and already cut to the character budget; rows need not be
        normalised (the base does it) and may be any float dtype.
        """

    def _count_tokens(self, text: str) -> int | None:
        """Tokens of ``text`` with specials, or ``None`` if this backend cannot count.

        Counts above :attr:`max_tokens` may be reported as :attr:`max_tokens`.
        """
        return None

    # -- conveniences ---------------------------------------------------------------

    def prepare(self, text: str) -> str:
        """``text`` as the model will read it: cut to a character budget, never longer.

        Short texts come back unchanged. A long one is cut to ``max_tokens *
        chars_per_token`` characters; if the backend counts tokens and the cut text does
        not fill the window, the budget doubles (up to :attr:`max_chars`).
        """
        budget = self.max_tokens * self.chars_per_token
        if len(text) <= budget:
            return text
        while True:
            clipped = clip_text(text, budget)
            if len(clipped) == len(text) or budget >= self.max_chars:
                return clipped
            count = self._count_tokens(clipped)
            if count is None or count >= self.max_tokens:
                return clipped
            budget = min(budget * 2, self.max_chars)

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Vectors for ``texts``: shape ``(len(texts), dim)``, float32, unit rows.

        An empty sequence gives ``(0, dim)``. Texts are grouped by length into batches of
        ``batch_size`` (less padding), and the rows come back in the order given.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_query() for one")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        prepared = [self.prepare(t) for t in texts]
        out = np.empty((len(prepared), self.dim), dtype=np.float32)
        if not prepared:
            return out
        order = sorted(range(len(prepared)), key=lambda i: len(prepared[i]))
        for idx in self._batches(order, [len(t) for t in prepared], batch_size):
            rows = np.asarray(self._embed_batch([prepared[i] for i in idx]))
            if rows.shape != (len(idx), self.dim):
                raise RuntimeError(
                    f"{type(self).__name__} returned shape {rows.shape} for {len(idx)} "
                    f"texts; expected ({len(idx)}, {self.dim})"
                )
            out[idx] = l2_normalise(rows)
        return out

    def _batches(self, order: list[int], lengths: list[int], batch_size: int) -> list[list[int]]:
        """Length-sorted batches of at most ``batch_size`` texts and, for long texts, at most
        :attr:`batch_chars` characters of padded input: attention memory grows with the
        batch times the square of its length, while short texts still go many at a time."""
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:  # ascending length, so the newest text is the batch's longest
            if current and (
                len(current) >= batch_size or (len(current) + 1) * lengths[i] > self.batch_chars
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def embed_query(self, text: str) -> Vectors:
        """One vector, shape ``(dim,)``, for a search query (or any single text)."""
        row: Vectors = self.embed([text])[0]
        return row

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_id={self.model_id!r}, dim={self.dim})"
