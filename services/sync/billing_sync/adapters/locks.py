"""Session advisory locks: who executes the run of an integration, who leads the write-back."""
from __future__ import annotations

import asyncpg


async def try_lock(conn: asyncpg.Connection, name: str) -> bool:
    """Take the session advisory lock `name` if no other session holds it; it lives as long as `conn`."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name))


async def unlock(conn: asyncpg.Connection, name: str) -> None:
    """Release a session advisory lock before the connection goes back to the pool; a connection
    that cannot say it released it is closed, so that the lock goes with it."""
    try:
        released = await conn.fetchval("SELECT pg_advisory_unlock(hashtext($1))", name)
    except Exception:  # noqa: BLE001 - whatever went wrong, the lock must not outlive this
        released = False
    if not released:
        conn.terminate()
