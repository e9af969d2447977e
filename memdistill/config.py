"""Where the store lives, its config file (`<store>/config.toml`, one table per part:
`[llm]`, `[refine]`), the few settings read from the environment, and the checks of what
a person types that every face (CLI, HTTP, MCP) shares: tenant names, times, hosts."""

from __future__ import annotations

import hashlib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from memdistill.errors import ConfigError, QueryError

HOME_ENV = "MEMDISTILL_HOME"
DEFAULT_TENANT = "default"
CONFIG_NAME = "config.toml"
Settings = TypeVar("Settings")


def default_store_path() -> Path:
    """`MEMDISTILL_HOME`, else the platform's user data folder."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("memdistill", appauthor=False))


def resolve_store_path(store: str | Path | None) -> Path:
    return Path(store).expanduser() if store else default_store_path()


def config_table(store_folder: Path, table: str) -> dict[str, Any]:
    """The `[table]` of the store's config file; {} when there is no file or no table."""
    path = store_folder / CONFIG_NAME
    if not path.exists():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8")).get(table, {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: [{table}] must be a table")
    return values


def with_values(settings: Settings, values: Mapping[str, Any], where: str, what: str) -> Settings:
    """`settings` (a dataclass) with `values`, each checked against the type of its field's
    default (a field whose default is None takes a number). Text is read as that type (the
    environment and flags give text); `what` and `where` name them in errors."""
    known = {f.name for f in fields(settings)}  # type: ignore[arg-type]
    changes: dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise ConfigError(
                f"unknown {what} setting {name!r} in {where}; known: {', '.join(sorted(known))}"
            )
        default = getattr(settings, name)
        kind = type(default) if default is not None else float
        try:
            changes[name] = _typed(value, kind)
        except (TypeError, ValueError, OverflowError):
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
            expected = "a finite number" if kind is float else f"of type {kind.__name__}"
            message = f"{what} setting {name} in {where} must be {expected}, not {shown}"
            raise ConfigError(message) from None
    return replace(settings, **changes)  # type: ignore[type-var]


def _typed(value: Any, kind: type) -> Any:
    """`value` as `kind`, without the silent conversions (2.9 to 2, true to 1) of a cast."""
    if kind is float and not isinstance(value, bool):  # no nan, no inf: nothing compares
        number = float(value) if isinstance(value, str | int | float) else None
        if number is None or not math.isfinite(number):
            raise TypeError
        return number
    if isinstance(value, str) and kind is not str:
        if kind is bool and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if kind is int:
            return int(value)
        if kind is tuple:  # one word from a flag
            return (value,)
        raise TypeError
    if kind is tuple and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    raise TypeError


_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")


def check_tenant(tenant: str) -> str:
    """Tenant names become part of queries and of index folder names: keep them plain."""
    if not _TENANT.fullmatch(tenant):
        raise ConfigError(
            f"tenant {tenant!r} is not a valid name: use 1-128 letters, digits and _ . @ + - "
            "(starting with a letter or digit)"
        )
    return tenant


def tenant_folder(tenant: str) -> str:
    """The tenant's index folder name: a hash, so "Alice" and "alice" never share one on a
    case-insensitive file system."""
    return "t-" + hashlib.sha256(check_tenant(tenant).encode()).hexdigest()[:16]


def parse_time(value: str | None, name: str) -> datetime | None:
    """An ISO date or time; without a zone it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"{name} takes an ISO date or time like 2026-01-31 or 2026-01-31T14:00, not {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_weights(value: str | None, name: str) -> list[float] | None:
    """Convex fusion weights, one per layer, separated by commas: `0.7,0.3`."""
    if not value:
        return None
    try:
        weights = [float(w) for w in value.split(",")]
    except ValueError:
        weights = []
    if not weights or not all(math.isfinite(w) for w in weights):
        raise QueryError(f"{name} takes numbers separated by commas, not {value!r}")
    return weights


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine (servers without keys bind only
    to such an address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
