"""Distillers turn an exchange into its compound memory object.

The one registry: a new distiller is a module with a `Distiller` subclass and a line here.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from memdistill.distill.base import Distiller
from memdistill.errors import ConfigError

if TYPE_CHECKING:
    from memdistill.store.store import Store

DISTILLERS: dict[str, str] = {
    "offline": "memdistill.distill.offline:OfflineDistiller",
    "llm": "memdistill.distill.llm:LLMDistiller",
}


def distiller_names() -> list[str]:
    return list(DISTILLERS)


def get_distiller(name: str = "offline", store: Store | None = None, **options: Any) -> Distiller:
    """The distiller `name`, set up for `store` (its config file, its caches) with
    `options` (for "llm": the LLMSettings fields, e.g. model=..., base_url=...)."""
    target = DISTILLERS.get(name)
    if target is None:
        raise ConfigError(f"unknown distiller {name!r}; use one of: {', '.join(DISTILLERS)}")
    module, _, cls = target.partition(":")
    distiller: Distiller = getattr(import_module(module), cls).create(store, **options)
    return distiller
