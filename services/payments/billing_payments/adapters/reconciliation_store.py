"""Reconciliation runs and drifts in SQL."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from billing_shared.events.reconciliation import DriftData

Conn = asyncpg.Connection | asyncpg.Pool


def parse_id(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def insert_run(conn: Conn, run_id: uuid.UUID, trigger: str, start: datetime, end: datetime,
                     requested_by: str | None) -> bool:
    """False when a nightly run for this night exists already (another replica scheduled it)."""
    return await conn.fetchval(
        """INSERT INTO reconciliation_runs (run_id, trigger, period_start, period_end, requested_by)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
        run_id, trigger, start, end, requested_by) is not None


async def nightly_exists(conn: Conn, start: datetime) -> bool:
    return await conn.fetchval(
        "SELECT true FROM reconciliation_runs WHERE trigger = 'nightly' AND period_start = $1", start) is not None


async def claim_gateway_check(conn: Conn, lease_seconds: float) -> asyncpg.Record | None:
    """A run whose gateway part nobody checks (or whose checker's lease is over), leased to the caller."""
    return await conn.fetchrow(
        """UPDATE reconciliation_runs SET gateway_claimed_at = now()
           WHERE run_id = (SELECT run_id FROM reconciliation_runs
                           WHERE gateway_state = 'pending'
                             AND (gateway_claimed_at IS NULL
                                  OR gateway_claimed_at < now() - make_interval(secs => $1))
                           ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING run_id, period_start, period_end""", lease_seconds)


async def lock_run(conn: asyncpg.Connection, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM reconciliation_runs WHERE run_id = $1 FOR UPDATE", run_id)


async def record_part(conn: asyncpg.Connection, run_id: uuid.UUID, part: str, drifts: Sequence[DriftData],
                      checked: dict[str, object], failure: str | None) -> None:
    """The part's drifts (replacing any a checker that lost its lease wrote) and its state; the caller
    holds the run's lock and has seen the part pending."""
    await conn.execute("DELETE FROM reconciliation_drifts WHERE run_id = $1 AND part = $2", run_id, part)
    if drifts:
        await conn.executemany(
            """INSERT INTO reconciliation_drifts (drift_id, run_id, part, seq, code, organization_id, payment_id,
                   invoice_id, transaction_id, accounting_id, currency, amount, summary, evidence)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)""",
            [(uuid.uuid4(), run_id, part, n, d.code, d.organization_id, d.payment_id, d.invoice_id, d.transaction_id,
              d.accounting_id, d.currency, d.amount, d.summary, d.evidence.model_dump_json())
             for n, d in enumerate(drifts)])
    await conn.execute(
        f"""UPDATE reconciliation_runs SET {part}_state = $2, {part}_failure = $3, {part}_checked = $4::jsonb
            WHERE run_id = $1""", run_id, "failed" if failure else "checked", failure, json.dumps(checked))


async def overdue_books(conn: Conn, wait_seconds: float) -> list[uuid.UUID]:
    rows = await conn.fetch(
        """SELECT run_id FROM reconciliation_runs
           WHERE books_state = 'pending' AND created_at < now() - make_interval(secs => $1)""", wait_seconds)
    return [r["run_id"] for r in rows]


async def complete(conn: asyncpg.Connection, run_id: uuid.UUID) -> dict[str, int]:
    """Mark the run completed; returns its drift count per code."""
    await conn.execute("UPDATE reconciliation_runs SET status = 'completed', completed_at = now() WHERE run_id = $1",
                       run_id)
    rows = await conn.fetch(
        "SELECT code, count(*) AS n FROM reconciliation_drifts WHERE run_id = $1 GROUP BY code ORDER BY code", run_id)
    return {r["code"]: r["n"] for r in rows}


async def runs(conn: Conn, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT r.*, (SELECT count(*) FROM reconciliation_drifts d WHERE d.run_id = r.run_id) AS drift_count,
                  (SELECT count(*) FROM reconciliation_drifts d
                    WHERE d.run_id = r.run_id AND d.state IN ('open', 'repair_requested')) AS open_count
           FROM reconciliation_runs r ORDER BY r.created_at DESC, r.run_id LIMIT $1""", limit)


async def run(conn: Conn, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT r.*, (SELECT count(*) FROM reconciliation_drifts d WHERE d.run_id = r.run_id) AS drift_count,
                  (SELECT count(*) FROM reconciliation_drifts d
                    WHERE d.run_id = r.run_id AND d.state IN ('open', 'repair_requested')) AS open_count
           FROM reconciliation_runs r WHERE r.run_id = $1""", run_id)


async def drifts(conn: Conn, run_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM reconciliation_drifts WHERE run_id = $1 ORDER BY part DESC, seq", run_id)


async def drift(conn: Conn, drift_id: uuid.UUID, *, for_update: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM reconciliation_drifts WHERE drift_id = $1"
                               + (" FOR UPDATE" if for_update else ""), drift_id)


async def set_drift_state(conn: Conn, drift_id: uuid.UUID, state: str, note: str | None,
                          by: str | None) -> asyncpg.Record:
    return await conn.fetchrow(
        """UPDATE reconciliation_drifts SET state = $2, note = coalesce($3, note), resolved_by = $4,
                                            resolved_at = now()
           WHERE drift_id = $1 RETURNING *""", drift_id, state, note, by)
