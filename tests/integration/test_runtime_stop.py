"""Stopping a service is bounded: a background task that does not end on its cancel, or a pooled connection
that is never released, delays the stop by the grace period at most, then is left behind (the task) or
closed by force (the connection). A stop that hung here kept a process, or the test suite, from ending."""
from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from billing_shared import runtime as runtime_module
from billing_shared.runtime import Runtime
from billing_shared.secrets import new_key
from billing_sync.config import SyncSettings

pytestmark = pytest.mark.timeout(60)


async def test_a_task_that_ignores_its_cancel_and_a_connection_never_released_do_not_hold_up_the_stop(
        infra, database_url, topic_prefix, monkeypatch):
    monkeypatch.setattr(runtime_module, "STOP_GRACE_SECONDS", 0.5)
    rt = Runtime(name="stop-test", schema="sync", package="billing_sync", settings=SyncSettings(
        database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap, kafka_topic_prefix=topic_prefix,
        secrets_key=new_key(), log_level="WARNING", log_format="console"))
    await rt.start()
    held = await rt.pool.acquire()  # never released
    ended = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(3600)  # swallows its cancel: a bug the stop must survive
        finally:
            ended.set()

    rt.spawn("stubborn", stubborn)
    await asyncio.sleep(0)
    began = time.monotonic()
    await asyncio.wait_for(rt.stop(), 10)
    took = time.monotonic() - began

    assert took < 5, took
    assert rt.pool.is_closing()
    with pytest.raises(asyncpg.InterfaceError, match="released back to the pool"):
        held.is_closed()  # taken back from its holder by the pool's terminate
    assert not ended.is_set()  # left behind, not waited for
    rt._tasks["stubborn"].cancel()  # the test's own cleanup: cancelled again, it ends
