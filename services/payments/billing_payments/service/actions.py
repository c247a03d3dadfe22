"""Manager actions on a payment: apply its unapplied money, refund it, cancel the payment."""
from __future__ import annotations

from decimal import Decimal

from billing_payments.adapters import invoice_store, payment_store
from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Payment
from billing_payments.service import cancelling
from billing_payments.service.deps import Deps
from billing_payments.service.gateway_refunds import issue_pending_refunds
from billing_payments.service.ledger_writes import commit_outcome


async def apply(deps: Deps, payment_id: str, invoice_id: str, *, keep_remainder: bool) -> Payment:
    settings = await deps.settings()
    async with deps.uow.begin() as tx:
        payment = await _locked(tx.conn, payment_id)
        target = await invoice_store.get(tx.conn, invoice_id, for_update=True)
        if target is None:
            raise PaymentError("not_found", "invoice not found", invoice_id=invoice_id)
        if target.in_flight_payment_id is not None:
            raise PaymentError("payment_in_progress", "a payment of that invoice is in progress", invoice_id=invoice_id)
        outcome = ledger.apply_to(payment, target, deps.now(), keep_remainder=keep_remainder)
        saved = (await commit_outcome(tx, payment, outcome, refund_via_gateway=settings.refund_via_gateway)).payment
    if settings.refund_via_gateway and outcome.refund_at_gateway:
        await issue_pending_refunds(deps, payment_id)
    return saved


async def refund(deps: Deps, payment_id: str, amount: Decimal | None) -> Payment:
    settings = await deps.settings()
    async with deps.uow.begin() as tx:
        payment = await _locked(tx.conn, payment_id)
        outcome = ledger.refund(payment, deps.now(), amount)
        saved = (await commit_outcome(tx, payment, outcome, refund_via_gateway=settings.refund_via_gateway)).payment
    if settings.refund_via_gateway:
        await issue_pending_refunds(deps, payment_id)
    return saved


async def cancel(deps: Deps, payment_id: str) -> Payment:
    """The intent first, then the gateway (void, or refund of a settled sale), then the ledger: see cancelling."""
    return await cancelling.cancel(deps, payment_id)


async def _locked(conn, payment_id: str) -> Payment:  # type: ignore[no-untyped-def]
    payment = await payment_store.load(conn, payment_id, for_update=True)
    if payment is None:
        raise PaymentError("not_found", "payment not found", payment_id=payment_id)
    return payment
