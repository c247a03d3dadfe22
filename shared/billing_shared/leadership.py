"""One leader among a service's replicas: the holder of a session advisory lock, on a connection of its own.

The lock dies with its session (Postgres restarted, the backend terminated, the process killed), so another
replica takes over at once, and a leader whose session is gone stops leading and competes again. A leader
is woken by NOTIFY on its channel, when there is new work, and looks anyway every `idle_seconds`.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

log = structlog.get_logger(__name__)


async def try_lock(conn: asyncpg.Connection, name: str) -> bool:
    """Take the session advisory lock `name` if no other session holds it; it lives as long as `conn`."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", name))


def held(conn: asyncpg.Connection) -> bool:
    """Whether the session that took a lock is still there. asyncpg hands a lost connection back to the
    pool: whoever led on it leads no more."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:  # released back to the pool when the connection was lost
        return False


async def unlock(conn: asyncpg.Connection, name: str) -> None:
    """Release a session advisory lock before the connection goes back to the pool; a connection that
    cannot say it released it is closed, so that the lock goes with it."""
    try:
        released = await conn.fetchval("SELECT pg_advisory_unlock(hashtext($1))", name)
    except Exception:  # noqa: BLE001 - whatever went wrong, the lock must not outlive this
        released = False
    if not released:
        try:
            conn.terminate()
        except asyncpg.InterfaceError:  # already lost and handed back to the pool: the lock went with it
            pass


async def lead_forever(pool: asyncpg.Pool, *, lock: str, channel: str, work: Callable[[], Awaitable[bool]],
                       idle_seconds: float, standby_seconds: float, name: str,
                       wake: asyncio.Event | None = None) -> None:
    """Compete for `lock` (looking again every `standby_seconds` while another replica holds it); while
    holding it, run `work` at once when it says more is waiting (returns True), else when woken by NOTIFY on
    `channel` (or `wake` set in this process) or after `idle_seconds`. A round that fails is logged and
    tried again at the next look."""
    wake = wake or asyncio.Event()
    while True:
        async with pool.acquire() as conn:
            while not await try_lock(conn, lock):
                await asyncio.sleep(standby_seconds)

            def woken(*_: object) -> None:
                wake.set()

            await conn.add_listener(channel, woken)
            try:
                while held(conn):  # another replica may take the lock the moment this session is gone
                    wake.clear()
                    try:
                        more = await work()
                    except Exception as exc:  # noqa: BLE001 - the next look tries again
                        log.warning("leader's round failed; tried again", leader=name,
                                    error=f"{type(exc).__name__}: {exc}"[:300])
                        more = False
                    if not more:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(wake.wait(), idle_seconds)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, woken)
                await unlock(conn, lock)
