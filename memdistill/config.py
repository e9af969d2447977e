"""Where the store lives, the few settings read from the environment, and the checks of
what a person types that every face (CLI, HTTP, MCP) shares: tenant names, times, hosts."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from memdistill.errors import ConfigError, QueryError

HOME_ENV = "MEMDISTILL_HOME"
DEFAULT_TENANT = "default"


def default_store_path() -> Path:
    """`MEMDISTILL_HOME`, else the platform's user data folder."""
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("memdistill", appauthor=False))


def resolve_store_path(store: str | Path | None) -> Path:
    return Path(store).expanduser() if store else default_store_path()


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


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine (servers without keys bind only
    to such an address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
