"""Session advisory locks: who executes the run of an integration, who leads the write-back."""
from __future__ import annotations

import asyncpg


async def try_lock(conn: asyncpg.Connection, name: str) -> bool:
    """Take the session advisory lock `name` if no other session holds it; it lives as long as `conn`."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name))


def held(conn: asyncpg.Connection) -> bool:
    """Whether the session that took a lock is still there. A session advisory lock dies with its
    session (Postgres restarted, the backend was terminated), and asyncpg then hands the lost
    connection back to the pool: whoever led on it leads no more and must compete for the lock again."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # released back to the pool when the connection was lost
        return False


async def unlock(conn: asyncpg.Connection, name: str) -> None:
    """Release a session advisory lock before the connection goes back to the pool; a connection
    that cannot say it released it is closed, so that the lock goes with it."""
    try:
        released = await conn.fetchval("SELECT pg_advisory_unlock(hashtext($1))", name)
    except Exception:  # noqa: BLE001 - whatever went wrong, the lock must not outlive this
        released = False
    if not released:
        try:
            conn.terminate()
        except asyncpg.InterfaceError:  # already lost and handed back to the pool: the lock went with it
            pass
