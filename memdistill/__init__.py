"""memdistill: personal memory distilled from chat logs with AI agents.

`from memdistill import Memory` is the API; the import is lazy so that the command line
starts without loading numpy, FAISS or a model until a command needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Hit", "MemdistillError", "Memory", "__version__"]

if TYPE_CHECKING:
    from memdistill.api import Memory
    from memdistill.errors import MemdistillError
    from memdistill.models import Hit


def __getattr__(name: str) -> Any:
    if name == "Memory":
        from memdistill.api import Memory

        return Memory
    if name == "Hit":
        from memdistill.models import Hit

        return Hit
    if name == "MemdistillError":
        from memdistill.errors import MemdistillError

        return MemdistillError
    raise AttributeError(f"module 'memdistill' has no attribute {name!r}")
