"""Resolves what the gateway knows and we do not: payments left pending (no reply, or a crash after the
sale), refunds whose sending had no answer, and cancels whose void or refund had no answer (or whose
commit failed after it). It only moves a payment to the outcome the gateway
reports for its order id; it never charges."""
from __future__ import annotations

import asyncio

import structlog

from billing_payments.adapters import payment_store
from billing_payments.adapters.gateway import GatewayError
from billing_payments.domain.errors import PaymentError
from billing_payments.service.cancelling import finish_stale as finish_stale_cancels
from billing_payments.service.deps import Deps
from billing_payments.service.gateway_refunds import issue_pending_refunds
from billing_payments.service.resolving import SaleOutcome, resolve_pending

log = structlog.get_logger(__name__)


async def reconcile_once(deps: Deps) -> int:
    grace = deps.config.pending_grace
    pending = await payment_store.stale_pending(deps.pool, grace)
    resolved = 0
    if pending:
        gateway = deps.gateway(await deps.settings())
        for payment_id in pending:
            try:
                found = await gateway.find_by_order_id(payment_id)
            except GatewayError as exc:
                log.warning("cannot ask the gateway about a pending payment yet", payment_id=payment_id, error=repr(exc))
                continue
            async with deps.uow.begin() as tx:
                payment = await resolve_pending(tx, payment_id, sale_outcome(found))
            resolved += 1
            log.info("pending payment resolved", payment_id=payment_id, status=payment.status if payment else None)
    await issue_pending_refunds(deps, retry_after=grace)
    await finish_stale_cancels(deps)
    return resolved


def sale_outcome(found) -> SaleOutcome:  # type: ignore[no-untyped-def]
    sales = [t for t in found if t.kind == "sale"]
    approved = [t for t in sales if t.approved]
    if approved:
        return SaleOutcome(True, approved[0].transaction_id)
    if sales:
        return SaleOutcome(False, sales[0].transaction_id, "declined by the gateway")
    return SaleOutcome(False, None, "the gateway never received the sale", reached_gateway=False)


async def run_reconciler(deps: Deps) -> None:
    while True:
        try:
            await reconcile_once(deps)
        except PaymentError as exc:  # e.g. no gateway keys yet: nothing can be pending then
            log.debug("reconciler idle", reason=exc.message)
        await asyncio.sleep(deps.config.reconcile_interval_seconds)
