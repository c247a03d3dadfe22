"""Sync runs and watermarks in SQL."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from billing_sync.adapters.db import Db
from billing_sync.domain.runs import Watermark

_RUN = "run_id, integration, mode, status, trigger, since, progress, reason, started_at, finished_at"


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


async def recent(conn: Db, before: tuple[Any, str] | None, limit: int) -> list[asyncpg.Record]:
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


async def finish(conn: asyncpg.Connection, run_id: uuid.UUID, status: str, reason: str | None = None) -> bool:
    result = await conn.execute(
        """UPDATE sync_runs SET status = $2, reason = $3, finished_at = now()
           WHERE run_id = $1 AND status = 'running'""", run_id, status, reason)
    return result.endswith(" 1")


async def cancel_running(conn: asyncpg.Connection, integration: str, reason: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""UPDATE sync_runs SET status = 'cancelled', reason = $2, finished_at = now()
            WHERE integration = $1 AND status = 'running' RETURNING {_RUN}""", integration, reason)


async def last_started(conn: Db, integration: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT max(started_at) AS started_at, bool_or(status = 'completed') AS completed
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
