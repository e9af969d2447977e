"""Embedders: the one registry of backends, and how to get one.

``get_embedder()`` gives the default, offline backend (all-MiniLM-L6-v2 as int8 ONNX);
``get_embedder("sentence-transformers")`` (alias ``"st"``) the torch one from the ``st``
extra. A new backend is one module plus one line in :data:`EMBEDDERS`. Importing this
package imports no backend: onnxruntime, torch and friends load on first use.
"""

from __future__ import annotations

import importlib
import threading

from memdistill.embed.base import Embedder, Vectors
from memdistill.errors import ConfigError

__all__ = [
    "ALIASES",
    "DEFAULT_EMBEDDER",
    "EMBEDDERS",
    "Embedder",
    "Vectors",
    "embedder_names",
    "get_embedder",
]

#: Backend name -> ``"module:Class"``, imported only when asked for.
EMBEDDERS: dict[str, str] = {
    "onnx": "memdistill.embed.onnx_minilm:OnnxMiniLMEmbedder",
    "sentence-transformers": "memdistill.embed.sentence_transformers:SentenceTransformersEmbedder",
}
#: Short names accepted by :func:`get_embedder`.
ALIASES: dict[str, str] = {"st": "sentence-transformers"}
DEFAULT_EMBEDDER = "onnx"

_instances: dict[str, Embedder] = {}
_instances_lock = threading.Lock()


def embedder_names() -> list[str]:
    """The backend names :func:`get_embedder` accepts (aliases not included)."""
    return list(EMBEDDERS)


def get_embedder(name: str = DEFAULT_EMBEDDER) -> Embedder:
    """The shared embedder called ``name`` (or an alias of it).

    One instance per backend and process: embedders load their model lazily and are
    thread-safe, so sharing avoids loading a model twice. Construct a backend class
    directly for one with other options.

    Raises:
        ConfigError: ``name`` names no backend.
        DependencyError: on first embedding, if the backend's packages are missing.
    """
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    if key not in EMBEDDERS:
        known = ", ".join([*EMBEDDERS, *(f"{a} (= {n})" for a, n in ALIASES.items())])
        raise ConfigError(f"unknown embedder {name!r}; choose one of: {known}")
    with _instances_lock:
        embedder = _instances.get(key)
        if embedder is None:
            module_name, _, class_name = EMBEDDERS[key].partition(":")
            cls = getattr(importlib.import_module(module_name), class_name)
            embedder = cls()
            if not isinstance(embedder, Embedder):
                raise ConfigError(f"{EMBEDDERS[key]} is not an Embedder")
            _instances[key] = embedder
        return embedder
