"""The eval extra's packages, imported where they are used.

Scoring, statistics and plots need packages that only `pip install 'memdistill[eval]'`
brings. Modules of the harness import them lazily, so `memdistill eval ...` starts
without them, and a missing one is a DependencyError that names it and the install
command rather than a raw ModuleNotFoundError.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager

from memdistill.errors import DependencyError

INSTALL = "pip install 'memdistill[eval]'"
# import name -> the package to install (pip's name)
PACKAGES = {
    "ir_measures": "ir-measures",
    "pytrec_eval": "pytrec-eval-terrier",
    "scipy": "scipy",
    "matplotlib": "matplotlib",
    "krippendorff": "krippendorff",
}
REPORT_MODULES = ("ir_measures", "pytrec_eval", "scipy", "matplotlib")


@contextmanager
def needs(module: str, what: str) -> Iterator[None]:
    """Around the import of `module`: turns its ImportError into a DependencyError."""
    try:
        yield
    except ImportError as exc:
        package = PACKAGES.get(module, module)
        missing = exc.name or module
        detail = "" if missing == module else f", which needs the missing module {missing!r}"
        raise DependencyError(
            f"{what} needs the package {package}{detail}; it is not installed. "
            f"Install the evaluation extra: {INSTALL}"
        ) from exc


def require(modules: tuple[str, ...], what: str) -> None:
    """Import each module now, so a missing one fails before any work is done."""
    for module in modules:
        with needs(module, what):
            importlib.import_module(module)
