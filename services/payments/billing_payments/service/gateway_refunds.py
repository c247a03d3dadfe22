"""Refunds sent to the gateway when `refund_via_gateway` is on.

The ledger records a refund row `pending` in the transaction that refunds; it is sent after the
commit. A row whose earlier attempt had no answer is matched against the gateway's own refunds of that
order before it is sent again, so a refund is never issued twice.
"""
from __future__ import annotations

import uuid

import structlog

from billing_payments.adapters.gateway import GatewayOutcomeUnknown, GatewayUnavailable
from billing_payments.service.deps import Deps

log = structlog.get_logger(__name__)


# A row is due when it was never attempted (the request that recorded it sends it at once), or, for
# the reconciler's retries, when its last attempt (or its creation) is older than the lease.
_DUE = """r.gateway_status = 'pending' AND (
            ($1::float8 IS NULL AND r.gateway_attempted_at IS NULL)
            OR ($1 IS NOT NULL AND coalesce(r.gateway_attempted_at, r.at) <= now() - make_interval(secs => $1)))"""


async def issue_pending_refunds(deps: Deps, payment_id: str | None = None, *, retry_after: float | None = None) -> int:
    """Send the due refund rows (of one payment, or all); `retry_after` is the reconciler's lease."""
    rows = await deps.pool.fetch(
        f"""SELECT r.payment_id, r.seq, r.amount, r.gateway_attempted_at, s.transaction_id AS sale_id
            FROM payment_transactions r
            JOIN payment_transactions s ON s.payment_id = r.payment_id AND s.type = 'sale'
            WHERE {_DUE} AND ($2::uuid IS NULL OR r.payment_id = $2)
            ORDER BY r.at""",
        retry_after, uuid.UUID(payment_id) if payment_id else None,
    )
    if not rows:
        return 0
    gateway = deps.gateway(await deps.settings())
    issued = 0
    for row in rows:
        pid, seq = str(row["payment_id"]), row["seq"]
        if not await _claim(deps, row, retry_after):
            continue  # another replica (or the request itself) is sending it
        try:
            if row["gateway_attempted_at"] is not None and await _already_refunded(deps, gateway, row):
                continue
            result = await gateway.refund(row["sale_id"], row["amount"])
        except (GatewayUnavailable, GatewayOutcomeUnknown) as exc:
            log.warning("gateway refund not confirmed; will retry", payment_id=pid, seq=seq, error=repr(exc))
            continue
        status, error = ("issued", None) if result.approved else ("failed", result.reason)
        await deps.pool.execute(
            """UPDATE payment_transactions SET gateway_status = $3, gateway_error = $4, transaction_id = $5
               WHERE payment_id = $1 AND seq = $2""",
            row["payment_id"], seq, status, error, result.transaction_id,
        )
        issued += result.approved
        if not result.approved:
            log.error("the gateway refused a refund: it needs a person", payment_id=pid, seq=seq, reason=error)
    return issued


async def _claim(deps: Deps, row, retry_after: float | None) -> bool:  # type: ignore[no-untyped-def]
    """An atomic lease on one attempt: of several senders, only the one whose update matches goes on."""
    return bool(await deps.pool.fetchval(
        f"""UPDATE payment_transactions r SET gateway_attempted_at = now()
            WHERE {_DUE} AND r.payment_id = $2 AND r.seq = $3
              AND r.gateway_attempted_at IS NOT DISTINCT FROM $4
            RETURNING true""",
        retry_after, row["payment_id"], row["seq"], row["gateway_attempted_at"],
    ))


async def _already_refunded(deps: Deps, gateway, row) -> bool:  # type: ignore[no-untyped-def]
    """An earlier attempt may have reached the gateway: adopt a gateway refund of this amount that no
    refund row of ours claims yet."""
    ours = {r["transaction_id"] for r in await deps.pool.fetch(
        "SELECT transaction_id FROM payment_transactions WHERE payment_id = $1 AND transaction_id IS NOT NULL",
        row["payment_id"])}
    for t in await gateway.find_by_order_id(str(row["payment_id"])):
        if t.kind == "refund" and t.approved and t.amount == row["amount"] and t.transaction_id not in ours:
            await deps.pool.execute(
                """UPDATE payment_transactions SET gateway_status = 'issued', transaction_id = $3
                   WHERE payment_id = $1 AND seq = $2""", row["payment_id"], row["seq"], t.transaction_id)
            return True
    return False
