"""Sync runs and watermarks in SQL."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from billing_sync.adapters.db import Db
from billing_sync.domain.runs import Watermark

_RUN = ("run_id, integration, mode, status, trigger, since, progress, reason, started_at, finished_at, "
        "rerun_requested")


async def create(conn: asyncpg.Connection, run_id: uuid.UUID, integration: str, mode: str, trigger: str,
                 since: dict[str, Any]) -> bool:
    """False when a run of this integration is already going (at most one at a time)."""
    row = await conn.fetchrow(
        """INSERT INTO sync_runs (run_id, integration, mode, status, trigger, since)
           VALUES ($1, $2, $3, 'running', $4, $5)
           ON CONFLICT (integration) WHERE status = 'running' DO NOTHING RETURNING run_id""",
        run_id, integration, mode, trigger, since,
    )
    return row is not None


async def running(conn: Db, integration: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_RUN} FROM sync_runs WHERE integration = $1 AND status = 'running'", integration)


async def get(conn: Db, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_RUN} FROM sync_runs WHERE run_id = $1", run_id)


async def recent(conn: Db, before: tuple[Any, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    if before is None:
        return await conn.fetch(f"SELECT {_RUN} FROM sync_runs ORDER BY started_at DESC, run_id DESC LIMIT $1", limit)
    return await conn.fetch(
        f"""SELECT {_RUN} FROM sync_runs WHERE (started_at, run_id) < ($1::timestamptz, $2::uuid)
            ORDER BY started_at DESC, run_id DESC LIMIT $3""", before[0], before[1], limit)


async def save_progress(conn: asyncpg.Connection, run_id: uuid.UUID, entity: str, progress: dict[str, Any]) -> bool:
    """Replace one entity's progress (steps of a run progress side by side); False when the run is no
    longer running (cancelled meanwhile): the caller rolls back."""
    status = await conn.execute(
        """UPDATE sync_runs SET progress = jsonb_set(progress, ARRAY[$2::text], $3::jsonb)
           WHERE run_id = $1 AND status = 'running'""", run_id, entity, progress)
    return status.endswith(" 1")


async def finish(conn: asyncpg.Connection, run_id: uuid.UUID, status: str, reason: str | None = None, *,
                 settings_current: bool = False) -> bool:
    """End the run; `settings_current`: it used the integration settings as they are now, so a
    follow-up requested meanwhile is not needed (the caller read them under `lock_running`)."""
    result = await conn.execute(
        """UPDATE sync_runs SET status = $2, reason = $3, finished_at = now(),
               rerun_requested = rerun_requested AND NOT $4
           WHERE run_id = $1 AND status = 'running'""", run_id, status, reason, settings_current)
    return result.endswith(" 1")


async def lock_running(conn: asyncpg.Connection, run_id: uuid.UUID) -> bool:
    """Lock the run's row before reading what it depends on (the integration revisions): a settings
    change that requests a follow-up locks the same row first, so either it waits for the run to end
    (and changes nothing the run used) or the run sees its revision. False when no longer running."""
    return await conn.fetchval(
        "SELECT true FROM sync_runs WHERE run_id = $1 AND status = 'running' FOR UPDATE", run_id) is not None


async def request_rerun(conn: asyncpg.Connection, integration: str) -> bool:
    """An integration's settings are changing: the running run (if any) is followed by another as soon
    as it ends. Call before changing them, in the same transaction (see `lock_running`)."""
    status = await conn.execute(
        "UPDATE sync_runs SET rerun_requested = true WHERE integration = $1 AND status = 'running'", integration)
    return status.endswith(" 1")


async def forget_progress(conn: asyncpg.Connection, run_id: uuid.UUID, entities: list[str]) -> bool:
    """Drop entities' progress (the run goes over those steps again); False when no longer running."""
    status = await conn.execute(
        "UPDATE sync_runs SET progress = progress - $2::text[] WHERE run_id = $1 AND status = 'running'",
        run_id, entities)
    return status.endswith(" 1")


async def cancel_running(conn: asyncpg.Connection, integration: str, reason: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""UPDATE sync_runs SET status = 'cancelled', reason = $2, finished_at = now(), rerun_requested = false
            WHERE integration = $1 AND status = 'running' RETURNING {_RUN}""", integration, reason)


async def last_started(conn: Db, integration: str) -> asyncpg.Record | None:
    """When the newest run started, whether any run completed, and whether the newest one asked for a
    follow-up (settings changed while it was going)."""
    return await conn.fetchrow(
        """SELECT max(started_at) AS started_at, bool_or(status = 'completed') AS completed,
                  coalesce((SELECT r.rerun_requested FROM sync_runs r WHERE r.integration = $1
                            ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1), false) AS rerun_requested
           FROM sync_runs WHERE integration = $1""", integration)


async def watermarks(conn: Db, integration: str) -> dict[str, Watermark]:
    rows = await conn.fetch(
        "SELECT entity, changed_at, last_id FROM sync_watermarks WHERE integration = $1", integration)
    return {r["entity"]: Watermark(r["changed_at"], r["last_id"]) for r in rows}


async def save_watermarks(conn: asyncpg.Connection, integration: str, marks: dict[str, Watermark]) -> None:
    if not marks:
        return
    entities = list(marks)
    await conn.execute(
        """INSERT INTO sync_watermarks (integration, entity, changed_at, last_id)
           SELECT $1, * FROM unnest($2::text[], $3::timestamptz[], $4::bigint[])
           ON CONFLICT (integration, entity) DO UPDATE
               SET changed_at = EXCLUDED.changed_at, last_id = EXCLUDED.last_id""",
        integration, entities, [marks[e].changed_at for e in entities], [marks[e].last_id for e in entities],
    )


async def record_failure(conn: asyncpg.Connection, run_id: uuid.UUID, entity: str, record_id: str,
                         reason: str) -> bool:
    """A record the run skipped, with the reason; False when it was recorded in this run already."""
    status = await conn.execute(
        """INSERT INTO sync_record_failures (run_id, entity, record_id, reason) VALUES ($1, $2, $3, $4)
           ON CONFLICT (run_id, entity, record_id) DO NOTHING""", run_id, entity, record_id, reason)
    return status.endswith(" 1")


async def failures(conn: Db, run_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT entity, record_id, reason, failed_at FROM sync_record_failures WHERE run_id = $1
           ORDER BY failed_at, entity, record_id""", run_id)
