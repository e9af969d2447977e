"""API keys: a bearer key acts for one tenant. Keys are random (256 bits), so a plain
SHA-256 of the key is a safe thing to store and look up; the key itself is shown once."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from memdistill.config import check_tenant
from memdistill.errors import NotFoundError
from memdistill.store.store import Store, now_db_time

PREFIX = "mdk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    tenant: str
    name: str
    prefix: str  # the first characters, to tell keys apart in a list
    created_at: str
    revoked_at: str | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, tenant: str, name: str = "") -> tuple[str, ApiKey]:
    """A new key for `tenant`: (the key, shown only now; its record)."""
    key = PREFIX + secrets.token_urlsafe(32)
    now = now_db_time()
    with store.transaction() as db:
        cursor = db.execute(
            "INSERT INTO api_keys (tenant, name, key_hash, prefix, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [check_tenant(tenant), name, _hash(key), key[:10], now],
        )
    return key, ApiKey(int(cursor.lastrowid or 0), tenant, name, key[:10], now, None)


def tenant_of_key(store: Store, key: str) -> str | None:
    """The tenant a live key acts for, or None (unknown or revoked)."""
    row = store.db.execute(
        "SELECT tenant FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL", [_hash(key)]
    ).fetchone()
    return None if row is None else str(row[0])


def list_keys(store: Store) -> list[ApiKey]:
    return [
        ApiKey(*row)
        for row in store.db.execute(
            "SELECT id, tenant, name, prefix, created_at, revoked_at FROM api_keys ORDER BY id"
        )
    ]


def revoke_key(store: Store, key_id: int) -> None:
    with store.transaction() as db:
        done = db.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            [now_db_time(), key_id],
        ).rowcount
    if not done:
        raise NotFoundError(f"no live API key {key_id}; `memdistill keys list` shows them")
