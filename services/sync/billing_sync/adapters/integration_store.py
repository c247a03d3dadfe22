"""Integration settings at rest: shown fields as JSON, secrets sealed with the service's SecretBox."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from billing_shared.secrets import SecretBox

from billing_sync.adapters.db import Db


@dataclass(frozen=True)
class StoredIntegration:
    name: str
    settings: dict[str, Any]
    secrets: dict[str, str]
    revision: int


async def load(conn: Db, box: SecretBox, name: str) -> StoredIntegration | None:
    """The integration, or None when it was never set or has been deleted."""
    row = await conn.fetchrow(
        "SELECT settings, sealed, revision FROM integrations WHERE name = $1 AND deleted_at IS NULL", name)
    if row is None:
        return None
    secrets = json.loads(box.open(row["sealed"])) if row["sealed"] is not None else {}
    return StoredIntegration(name, dict(row["settings"]), secrets, row["revision"])


async def revision(conn: Db, name: str) -> int | None:
    return await conn.fetchval("SELECT revision FROM integrations WHERE name = $1 AND deleted_at IS NULL", name)


async def save(conn: asyncpg.Connection, box: SecretBox, name: str, settings: dict[str, Any],
               secrets: dict[str, str]) -> int:
    """Insert or replace; a new revision tells running processes to rebuild their clients."""
    return await conn.fetchval(
        """INSERT INTO integrations (name, settings, sealed) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET settings = EXCLUDED.settings, sealed = EXCLUDED.sealed,
               revision = integrations.revision + 1, deleted_at = NULL, updated_at = now()
           RETURNING revision""",
        name, settings, box.seal(json.dumps(secrets)),
    )


async def replace_secret(conn: Db, box: SecretBox, name: str,
                         key: str, value: str) -> None:
    """A rotated token: same revision (the running client already holds it), new sealed value."""
    async with _acquire(conn) as c, c.transaction():
        sealed = await c.fetchval(
            "SELECT sealed FROM integrations WHERE name = $1 AND deleted_at IS NULL FOR UPDATE", name)
        if sealed is None:
            return
        secrets = json.loads(box.open(sealed))
        secrets[key] = value
        await c.execute("UPDATE integrations SET sealed = $2, updated_at = now() WHERE name = $1",
                        name, box.seal(json.dumps(secrets)))


async def delete(conn: asyncpg.Connection, name: str) -> bool:
    """Forget the credentials, keep the row (and every mirrored row) as history."""
    status = await conn.execute(
        """UPDATE integrations SET sealed = NULL, deleted_at = now(), revision = revision + 1,
               updated_at = now() WHERE name = $1 AND deleted_at IS NULL""", name)
    return status.endswith(" 1")


class _acquire:
    """A connection from a pool, or the connection given."""

    def __init__(self, conn: Db) -> None:
        self._conn = conn
        self._held: Any = None

    async def __aenter__(self) -> asyncpg.Connection:
        if isinstance(self._conn, asyncpg.Pool):
            self._held = self._conn.acquire()
            return await self._held.__aenter__()
        return self._conn

    async def __aexit__(self, *exc: object) -> None:
        if self._held is not None:
            await self._held.__aexit__(*exc)


async def app_setting(conn: Db, key: str) -> Any:
    return await conn.fetchval("SELECT value FROM app_settings WHERE key = $1", key)


async def set_app_setting(conn: Db, key: str, value: Any) -> None:
    await conn.execute(
        """INSERT INTO app_settings (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""", key, value)
