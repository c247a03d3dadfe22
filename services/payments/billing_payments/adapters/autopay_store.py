"""Autopay in SQL: enrollments, attempts, upcoming notices, and the scheduler's leader lock."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from billing_payments.adapters.invoice_store import _COLUMNS, to_invoice
from billing_payments.domain.autopay import Enrollment, Rule
from billing_payments.domain.invoices import PayableInvoice

Db = asyncpg.Connection | asyncpg.Pool
LOCK = "payments-autopay"
CHANNEL = "payments_autopay"  # NOTIFY'd when an attempt is ready to charge, so the leader does not wait a tick
OPEN_STATUSES = ("scheduled", "checking", "charging")


def _enrollment(row: asyncpg.Record) -> Enrollment:
    return Enrollment(
        organization_id=row["organization_id"], method_id=str(row["method_id"]),
        rule=Rule(row["rule_kind"], row["rule_days"]), max_amount=row["max_amount"], currency=row["currency"],
        contact_id=row["contact_id"], environment=row["environment"], enrolled_by=row["enrolled_by"],
        enrolled_at=row["enrolled_at"],
    )


async def get_enrollment(conn: Db, organization_id: str) -> Enrollment | None:
    row = await conn.fetchrow("SELECT * FROM autopay_enrollments WHERE organization_id = $1", organization_id)
    return _enrollment(row) if row else None


async def put_enrollment(conn: Db, e: Enrollment) -> Enrollment:
    """Enroll, or change the enrollment. The enrollment date stays when only the maximum changes, so a new
    rule or method starts from today and an old invoice is never charged by the change."""
    row = await conn.fetchrow(
        """INSERT INTO autopay_enrollments AS a (organization_id, method_id, rule_kind, rule_days, max_amount,
                                                 currency, contact_id, environment, enrolled_by, enrolled_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (organization_id) DO UPDATE SET
               method_id = EXCLUDED.method_id, rule_kind = EXCLUDED.rule_kind, rule_days = EXCLUDED.rule_days,
               max_amount = EXCLUDED.max_amount, currency = EXCLUDED.currency, contact_id = EXCLUDED.contact_id,
               environment = EXCLUDED.environment, enrolled_by = EXCLUDED.enrolled_by,
               enrolled_at = CASE WHEN (a.method_id, a.rule_kind, a.rule_days)
                                       IS NOT DISTINCT FROM (EXCLUDED.method_id, EXCLUDED.rule_kind, EXCLUDED.rule_days)
                                  THEN a.enrolled_at ELSE EXCLUDED.enrolled_at END
           RETURNING *""",
        e.organization_id, uuid.UUID(e.method_id), e.rule.kind, e.rule.days, e.max_amount, e.currency, e.contact_id,
        e.environment, e.enrolled_by, e.enrolled_at,
    )
    return _enrollment(row)


async def delete_enrollment(conn: Db, organization_id: str) -> None:
    await conn.execute("DELETE FROM autopay_enrollments WHERE organization_id = $1", organization_id)


@dataclass(frozen=True)
class Candidate:
    enrollment: Enrollment
    invoice: PayableInvoice
    noticed: bool  # autopay.upcoming already sent for this invoice and rule


async def candidates(conn: Db) -> list[Candidate]:
    """Open, numbered, owing invoices of enrolled organizations with no attempt yet under the current rule
    (the domain decides which of them are due today, or upcoming)."""
    enrollments = {r["organization_id"]: _enrollment(r) for r in await conn.fetch("SELECT * FROM autopay_enrollments")}
    if not enrollments:
        return []
    columns = ", ".join("i." + c.strip() for c in _COLUMNS.split(","))
    rows = await conn.fetch(
        f"""SELECT {columns}, n.invoice_id IS NOT NULL AS noticed
            FROM invoices i
            JOIN unnest($1::text[], $2::text[]) AS e(organization_id, rule_key) ON e.organization_id = i.organization_id
            LEFT JOIN autopay_notices n ON n.invoice_id = i.invoice_id AND n.rule_key = e.rule_key
            WHERE i.source_status = 'open' AND i.invoice_number IS NOT NULL AND i.applied < i.source_total
              AND NOT EXISTS (SELECT 1 FROM autopay_attempts t WHERE t.invoice_id = i.invoice_id
                              AND t.rule_key = e.rule_key)
            ORDER BY i.invoice_id""",
        list(enrollments), [e.rule.key for e in enrollments.values()])
    return [Candidate(enrollments[r["organization_id"]], to_invoice(r), r["noticed"]) for r in rows]


async def mark_noticed(conn: asyncpg.Connection, invoice_id: str, rule_key: str) -> bool:
    """True the first time only: one autopay.upcoming per invoice and rule."""
    return bool(await conn.fetchval(
        """INSERT INTO autopay_notices (invoice_id, rule_key) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""", invoice_id, rule_key))


@dataclass(frozen=True)
class Attempt:
    attempt_id: str
    organization_id: str
    invoice_id: str
    rule_key: str
    attempt_number: int
    method_id: str
    max_amount: Decimal
    charge_on: date
    run_at: datetime
    status: str
    skip_reason: str | None
    failure_reason: str | None
    amount: Decimal | None
    accounting_balance: Decimal | None
    payment_id: str | None
    created_at: datetime
    updated_at: datetime


def _attempt(row: asyncpg.Record) -> Attempt:
    return Attempt(
        attempt_id=str(row["attempt_id"]), organization_id=row["organization_id"], invoice_id=row["invoice_id"],
        rule_key=row["rule_key"], attempt_number=row["attempt_number"], method_id=str(row["method_id"]),
        max_amount=row["max_amount"], charge_on=row["charge_on"], run_at=row["run_at"], status=row["status"],
        skip_reason=row["skip_reason"], failure_reason=row["failure_reason"], amount=row["amount"],
        accounting_balance=row["accounting_balance"],
        payment_id=str(row["payment_id"]) if row["payment_id"] else None,
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def insert_attempt(conn: asyncpg.Connection, *, organization_id: str, invoice_id: str, rule_key: str,
                         attempt_number: int, method_id: str, max_amount: Decimal, charge_on: date, run_at: datetime,
                         status: str) -> Attempt | None:
    """The attempt, or None when it exists already (another replica, or an earlier pass, started it)."""
    row = await conn.fetchrow(
        """INSERT INTO autopay_attempts (attempt_id, organization_id, invoice_id, rule_key, attempt_number, method_id,
                                         max_amount, charge_on, run_at, status, check_requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $10 = 'checking' THEN now() END)
           ON CONFLICT (invoice_id, rule_key, attempt_number) DO NOTHING RETURNING *""",
        uuid.uuid4(), organization_id, invoice_id, rule_key, attempt_number, uuid.UUID(method_id), max_amount,
        charge_on, run_at, status,
    )
    return _attempt(row) if row else None


async def get_attempt(conn: Db, attempt_id: str, *, for_update: bool = False) -> Attempt | None:
    try:
        aid = uuid.UUID(attempt_id)
    except ValueError:
        return None
    row = await conn.fetchrow("SELECT * FROM autopay_attempts WHERE attempt_id = $1"
                              + (" FOR UPDATE" if for_update else ""), aid)
    return _attempt(row) if row else None


async def start_checks(conn: asyncpg.Connection, now: datetime, stale_before: datetime, limit: int) -> list[Attempt]:
    """Scheduled attempts whose time has come, and checks that got no answer since `stale_before` (sync was
    down, or its answer was lost): each is (re)asked now. Rows locked, skipped when another pass holds them."""
    rows = await conn.fetch(
        """UPDATE autopay_attempts SET status = 'checking', check_requested_at = $1, updated_at = now()
           WHERE attempt_id IN (
               SELECT attempt_id FROM autopay_attempts
               WHERE (status = 'scheduled' AND run_at <= $1) OR (status = 'checking' AND check_requested_at < $2)
               ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED)
           RETURNING *""", now, stale_before, limit)
    return [_attempt(r) for r in rows]


async def ready_to_charge(conn: Db, limit: int) -> list[Attempt]:
    rows = await conn.fetch("""SELECT * FROM autopay_attempts WHERE status = 'charging'
                               ORDER BY updated_at LIMIT $1""", limit)
    return [_attempt(r) for r in rows]


async def set_charging(conn: asyncpg.Connection, attempt_id: str, amount: Decimal,
                       accounting_balance: Decimal | None) -> None:
    await conn.execute(
        """UPDATE autopay_attempts SET status = 'charging', amount = $2, accounting_balance = $3, updated_at = now()
           WHERE attempt_id = $1""", uuid.UUID(attempt_id), amount, accounting_balance)
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


async def set_payment(conn: Db, attempt_id: str, payment_id: str) -> None:
    await conn.execute("UPDATE autopay_attempts SET payment_id = $2, updated_at = now() WHERE attempt_id = $1",
                       uuid.UUID(attempt_id), uuid.UUID(payment_id))


async def finish(conn: asyncpg.Connection, attempt_id: str, status: str, *, from_status: str,
                 skip_reason: str | None = None, failure_reason: str | None = None, payment_id: str | None = None,
                 accounting_balance: Decimal | None = None) -> Attempt | None:
    """Move the attempt out of `from_status`; None when it had left it already (the move happened once)."""
    row = await conn.fetchrow(
        """UPDATE autopay_attempts SET status = $2, skip_reason = $3, failure_reason = $4,
               payment_id = coalesce($5, payment_id), accounting_balance = coalesce($6, accounting_balance),
               updated_at = now()
           WHERE attempt_id = $1 AND status = $7 RETURNING *""",
        uuid.UUID(attempt_id), status, skip_reason, failure_reason,
        uuid.UUID(payment_id) if payment_id else None, accounting_balance, from_status)
    return _attempt(row) if row else None


async def list_attempts(conn: Db, organization_id: str, limit: int) -> list[Attempt]:
    rows = await conn.fetch(
        """SELECT * FROM autopay_attempts WHERE organization_id = $1
           ORDER BY created_at DESC, attempt_number DESC, attempt_id DESC LIMIT $2""", organization_id, limit)
    return [_attempt(r) for r in rows]


async def method_present(conn: Db, method_id: str) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM wallet_methods WHERE method_id = $1 AND deleted_at IS NULL)",
        uuid.UUID(method_id)))
