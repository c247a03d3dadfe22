"""Refunds sent to the gateway when `refund_via_gateway` is on.

The ledger records a refund row `pending` in the transaction that refunds; it is sent after the
commit. A row whose earlier attempt had no answer is matched against the gateway's own refunds of that
order before it is sent again, so a refund is never issued twice.
"""
from __future__ import annotations

import structlog

from billing_payments.adapters import payment_store
from billing_payments.adapters.gateway import GatewayOutcomeUnknown, GatewayUnavailable, NmiGateway
from billing_payments.adapters.payment_store import DueRefund
from billing_payments.service.deps import Deps

log = structlog.get_logger(__name__)


async def issue_pending_refunds(deps: Deps, payment_id: str | None = None, *, retry_after: float | None = None) -> int:
    """Send the due refund rows (of one payment, or all); `retry_after` is the reconciler's lease."""
    due = await payment_store.due_refunds(deps.pool, payment_id, retry_after)
    if not due:
        return 0
    gateway = deps.gateway(await deps.settings())
    issued = 0
    for refund in due:
        pid, seq = refund.payment_id, refund.seq
        if not await payment_store.claim_refund(deps.pool, refund, retry_after):
            continue  # another replica (or the request itself) is sending it
        try:
            if refund.attempted_at is not None and await _already_refunded(deps, gateway, refund):
                continue
            result = await gateway.refund(refund.sale_id, refund.amount)
        except (GatewayUnavailable, GatewayOutcomeUnknown) as exc:
            log.warning("gateway refund not confirmed; will retry", payment_id=pid, seq=seq, error=repr(exc))
            continue
        status, error = ("issued", None) if result.approved else ("failed", result.reason)
        await payment_store.record_refund_outcome(deps.pool, refund, status, error, result.transaction_id)
        issued += result.approved
        if not result.approved:
            log.error("the gateway refused a refund: it needs a person", payment_id=pid, seq=seq, reason=error)
    return issued


async def _already_refunded(deps: Deps, gateway: NmiGateway, refund: DueRefund) -> bool:
    """An earlier attempt may have reached the gateway: adopt a gateway refund of this amount that no
    refund row of ours claims yet."""
    ours = await payment_store.gateway_transaction_ids(deps.pool, refund.payment_id)
    for t in await gateway.find_by_order_id(refund.payment_id):
        if t.kind == "refund" and t.approved and t.amount == refund.amount and t.transaction_id not in ours:
            await payment_store.adopt_gateway_refund(deps.pool, refund, t.transaction_id)
            return True
    return False
