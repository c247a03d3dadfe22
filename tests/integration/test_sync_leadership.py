"""Leadership by session advisory lock (write-back, upstream numbering): a lock dies with the session
that took it (a Postgres restart, a terminated backend). The leader must notice and compete for the lock
again, never go on leading without it: another replica takes the free lock at once, and two leaders
write to accounting at the same time. Found by the chaos harness (tests/chaos, a Postgres restart)."""
from __future__ import annotations

import asyncpg
import pytest

from tests.e2e.sync_support import sync_in_process, sync_settings
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

HOLDER = """SELECT l.pid FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database
                                                                          WHERE datname = current_database())
              AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtext($1)::bigint"""


@pytest.mark.parametrize("lock", ["sync-writeback", "sync-upstream-numbering"])
async def test_a_leader_whose_session_ended_takes_the_lock_again(infra, database_url, topic_prefix, lock):
    async with sync_in_process(sync_settings(infra, database_url, topic_prefix, scheduler_tick_seconds=0.2,
                                             writeback_poll_seconds=0.1)):
        conn = await asyncpg.connect(database_url)
        try:
            first = await eventually(lambda: conn.fetchval(HOLDER, lock), timeout=30)
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", first)

            async def led_again() -> int | None:
                pid = await conn.fetchval(HOLDER, lock)
                return pid if pid not in (None, first) else None
            # the worker leads again on a new session: it did not go on leading without the lock
            second = await eventually(led_again, timeout=20, interval=0.2)
            assert second != first
        finally:
            await conn.close()
