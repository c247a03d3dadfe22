"""The run scheduler: starts a run when one is due (every `sync_interval_minutes`, or at once when
the integration settings changed while the last run was going and it did not take the change in),
and executes the running run of the integration when no live process does (a crashed process's run
resumes here).

Exactly one process executes a run: the one holding the integration's session advisory lock, which
Postgres releases by itself when that process dies.
"""
from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import structlog

from billing_sync.adapters import run_store
from billing_shared.leadership import try_lock, unlock
from billing_sync.domain.integrations import AUTOTASK
from billing_sync.domain.runs import is_due
from billing_sync.service.deps import Deps
from billing_sync.service.executor import execute
from billing_sync.service.runs import request_run

log = structlog.get_logger(__name__)

RUN_LOCK = f"sync-run:{AUTOTASK}"


class Scheduler:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.active: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            while True:
                self.deps.runs_wake.clear()
                try:
                    await self.tick()
                except Exception:  # noqa: BLE001 - the next tick tries again
                    log.exception("scheduler tick failed")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.deps.runs_wake.wait(), self.deps.config.scheduler_tick_seconds)
        finally:
            if self.active is not None and not self.active.done():
                self.active.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self.active

    async def tick(self) -> None:
        if self.active is not None and not self.active.done():
            return
        connected = await self.deps.connections.autotask()
        if connected is None:
            return
        pool = self.deps.pool
        running = await run_store.running(pool, AUTOTASK)
        if running is None:
            last = await run_store.last_started(pool, AUTOTASK)
            interval = connected.settings.sync_interval_minutes
            follow_up = bool(last and last["rerun_requested"])  # settings changed during the last run
            if not follow_up and not is_due(last["started_at"] if last else None, interval, datetime.now(UTC)):
                return
            await request_run(self.deps, "follow_up" if follow_up else "schedule", interval)
            running = await run_store.running(pool, AUTOTASK)
            if running is None:
                return
        self.active = asyncio.create_task(self._execute(running["run_id"]), name="sync-run")

    async def _execute(self, run_id: object) -> None:
        """Execute the run if no other process holds its lock (the lock lives as long as `conn`)."""
        async with self.deps.pool.acquire() as conn:
            if not await try_lock(conn, RUN_LOCK):
                return  # another process executes it; look again at the next tick
            try:
                run = await run_store.get(conn, run_id)  # read again under the lock: progress may have moved
                if run is not None and run["status"] == "running":
                    await execute(self.deps, run)
            finally:
                await unlock(conn, RUN_LOCK)
        self.deps.runs_wake.set()  # what next: another run may be due
