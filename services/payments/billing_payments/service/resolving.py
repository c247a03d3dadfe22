"""Moving a pending payment to its known outcome, whoever learnt it first: the request that made the
sale, the reconciler that asked the gateway, or a gateway webhook. Only the first one counts."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from billing_shared.outbox import Tx

from billing_payments.adapters import idempotency_store, invoice_store, payment_store
from billing_payments.domain import ledger
from billing_payments.domain.payment import Payment
from billing_payments.service.ledger_writes import commit_outcome
from billing_payments.service.responses import final_response


@dataclass(frozen=True)
class SaleOutcome:
    approved: bool
    transaction_id: str | None
    reason: str | None = None
    # False: the gateway never had the sale (unreachable, or its Query API knows no such order). Nothing
    # was charged, so this is no decline: the request's key is freed for a retry instead of replaying one.
    reached_gateway: bool = True


async def resolve_pending(tx: Tx, payment_id: str, sale: SaleOutcome, *, last_in_tx: bool = False) -> Payment | None:
    """Returns the payment as it now stands (unchanged when it was no longer pending). `last_in_tx`: the
    caller does nothing more in the transaction, so its events go out with the last statement."""
    payment = await payment_store.load(tx.conn, payment_id, for_update=True)
    if payment is None or payment.status != "pending":
        return payment
    outcome = ledger.approve(payment, sale.transaction_id or "", datetime.now(UTC)) if sale.approved \
        else ledger.decline(payment, sale.reason or "declined", sale.transaction_id)
    committed = await commit_outcome(tx, payment, outcome)
    resolved = committed.payment
    invoice_ids = [a.invoice_id for a in payment.planned()]
    for invoice_id in invoice_ids:
        if invoice_id in committed.voided_invoices:
            # voided while the sale was in flight: that invoice's money is unapplied at once, as for any void
            unapplied = ledger.unapply_voided_invoice(resolved, invoice_id)
            if unapplied is not None:
                resolved = (await commit_outcome(tx, resolved, unapplied)).payment
    if sale.reached_gateway:
        status, body = final_response(resolved)
        # the invoices leave flight with the key's answer, in one statement
        await idempotency_store.complete_for_payment(tx.conn, payment_id, status, body, free_invoices=invoice_ids,
                                                     outbox=tx.take() if last_in_tx else ([], [], [], []))
    else:
        await invoice_store.set_in_flight_many(tx.conn, invoice_ids, None)
        await idempotency_store.forget_payment(tx.conn, payment_id)
    return resolved
