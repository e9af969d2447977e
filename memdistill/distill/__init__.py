"""Distillers turn an exchange into its compound memory object.

The one registry: a new distiller is a module with a `Distiller` subclass and a line here.
"""

from __future__ import annotations

from importlib import import_module

from memdistill.distill.base import Distiller
from memdistill.errors import ConfigError

DISTILLERS: dict[str, str] = {
    "offline": "memdistill.distill.offline:OfflineDistiller",
}


def distiller_names() -> list[str]:
    return list(DISTILLERS)


def get_distiller(name: str = "offline") -> Distiller:
    target = DISTILLERS.get(name)
    if target is None:
        raise ConfigError(f"unknown distiller {name!r}; use one of: {', '.join(DISTILLERS)}")
    module, _, cls = target.partition(":")
    distiller: Distiller = getattr(import_module(module), cls)()
    return distiller
