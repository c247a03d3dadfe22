"""Cancelling a payment: the intent is recorded first, then the gateway is asked, then the ledger settles.

1. Under the payment's row lock the cancel is recorded (`gateway_reversal` pending); the request that
   records it holds its lease. A payment with a cancel pending cannot be applied or refunded.
2. The gateway's Query API tells what became of the sale: unsettled (`pendingsettlement`) -> it is voided;
   already `canceled` -> an earlier void went through; settled (`complete`) -> with `refund_via_gateway`
   on, what is left of it is refunded; off, nothing moves there and the payment says so; `failed` ->
   nothing to move.
3. `reversal_sent` is committed before a void or refund leaves; the answer is recorded with the cancel in
   one transaction. A lost answer, a crash or a failed commit leaves the intent pending: the reconciler
   (or a repeated cancel once the lease has lapsed) asks the gateway again and finishes it. Nothing is
   voided or refunded twice: a voided sale shows `canceled`, and a refund only sends what the gateway
   has not refunded of the sale yet.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import structlog

from billing_shared.money import ZERO

from billing_payments.adapters import payment_store
from billing_payments.adapters.gateway import (
    GatewayOutcomeUnknown, GatewayRejected, GatewayUnavailable, NmiGateway,
)
from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Payment, Reversal
from billing_payments.service.deps import Deps
from billing_payments.service.ledger_writes import commit_outcome

log = structlog.get_logger(__name__)

UNSETTLED = {"pending", "pendingsettlement", "in_progress"}


@dataclass(frozen=True)
class _Reversed:
    reversal: Reversal
    transaction_id: str | None = None
    reason: str | None = None


class _NothingMoved(Exception):
    """The gateway is known not to have acted (unreachable before sending, or it refused)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


async def cancel(deps: Deps, payment_id: str) -> Payment:
    """A manager's cancel. Returns the cancelled payment, or the payment with its cancel still pending
    when the gateway's answer was lost (the reconciler finishes it)."""
    async with deps.uow.begin() as tx:
        payment = await payment_store.load(tx.conn, payment_id, for_update=True)
        if payment is None:
            raise PaymentError("not_found", "payment not found", payment_id=payment_id)
        if payment.gateway_reversal == "pending":
            sent = await payment_store.claim_reversal(tx.conn, payment_id, deps.config.pending_grace)
            if sent is None:
                raise PaymentError("payment_in_progress", "a cancel of this payment is in progress",
                                   payment_id=payment_id)
        else:
            sent = False
            await payment_store.save(tx.conn, payment, ledger.request_cancel(payment))
    return await carry_out(deps, payment_id, sent_before=sent, by_request=True)


async def carry_out(deps: Deps, payment_id: str, *, sent_before: bool, by_request: bool) -> Payment:
    """Ask the gateway, act once, settle. The caller holds the cancel's lease."""
    settings = await deps.settings()
    try:
        payment = await _load(deps, payment_id)
        if payment.transaction_id:
            done = await _reverse_at_gateway(deps, deps.gateway(settings), payment,
                                             refund_via_gateway=settings.refund_via_gateway)
        else:
            done = _Reversed("none", reason="the gateway never had a sale for this payment: nothing moved there")
    except _NothingMoved as exc:
        if (by_request and not sent_before) or exc.code == "payment_state_conflict":
            await _drop(deps, payment_id)  # the payment stays as it was; the cancel may be asked again
            raise PaymentError(exc.code, exc.message, payment_id=payment_id) from None
        await payment_store.release_reversal(deps.pool, payment_id)
        raise PaymentError(exc.code, exc.message, payment_id=payment_id) from None
    except GatewayOutcomeUnknown as exc:
        log.warning("cancel outcome unknown at the gateway; the reconciler asks again", payment_id=payment_id,
                    error=str(exc))
        await payment_store.release_reversal(deps.pool, payment_id)
        return await _load(deps, payment_id)
    except PaymentError:  # e.g. no gateway keys: nothing was sent
        if by_request and not sent_before:
            await _drop(deps, payment_id)
        else:
            await payment_store.release_reversal(deps.pool, payment_id)
        raise
    return await _settle(deps, payment_id, done)


async def _reverse_at_gateway(deps: Deps, gateway: NmiGateway, payment: Payment, *,
                              refund_via_gateway: bool) -> _Reversed:
    sale_id = payment.transaction_id or ""
    try:
        sale = await gateway.get_transaction(sale_id)  # a read: safe to repeat
    except (GatewayUnavailable, GatewayRejected) as exc:
        raise _NothingMoved("gateway_unavailable",
                            f"the payment gateway cannot be reached; nothing was cancelled ({exc})") from None
    if sale is None:
        return _Reversed("none", reason="the gateway does not know this sale: nothing moved there")
    if sale.condition == "canceled":
        return _Reversed("voided")  # an earlier void went through (its answer, or our commit, was lost)
    if sale.condition == "failed":
        return _Reversed("none", reason="the sale failed at the gateway: no money moved there")
    if sale.condition in UNSETTLED:
        result = await _send(deps, payment.payment_id, lambda: gateway.void(sale_id))
        if not result.approved:
            raise _NothingMoved("payment_state_conflict", f"the gateway would not void the sale: {result.reason}")
        return _Reversed("voided", result.transaction_id)
    if sale.condition != "complete":
        raise _NothingMoved("payment_state_conflict", f"the gateway reports the sale as {sale.condition}")
    if not refund_via_gateway:
        return _Reversed("none")
    left = sale.amount - await _refunded_at_gateway(gateway, payment)
    if left <= 0:
        return _Reversed("refunded")  # an earlier refund of the rest went through
    result = await _send(deps, payment.payment_id, lambda: gateway.refund(sale_id, left))
    if not result.approved:
        raise _NothingMoved("payment_state_conflict", f"the gateway would not refund the sale: {result.reason}")
    return _Reversed("refunded", result.transaction_id)


async def _send(deps: Deps, payment_id: str, call):  # type: ignore[no-untyped-def]
    """Sent once: `reversal_sent` is committed first; a connect failure means nothing left."""
    await payment_store.mark_reversal_sent(deps.pool, payment_id)
    try:
        return await call()
    except GatewayUnavailable as exc:
        raise _NothingMoved("gateway_unavailable",
                            f"the payment gateway cannot be reached; nothing was cancelled ({exc})") from None


async def _refunded_at_gateway(gateway: NmiGateway, payment: Payment) -> Decimal:
    try:
        found = await gateway.find_by_order_id(payment.order_id)
    except (GatewayUnavailable, GatewayRejected) as exc:
        raise _NothingMoved("gateway_unavailable",
                            f"the payment gateway cannot be reached; nothing was cancelled ({exc})") from None
    return sum((t.amount for t in found if t.kind == "refund" and t.approved and t.condition != "canceled"
                and t.original_transaction_id in (None, payment.transaction_id)), ZERO)


async def _settle(deps: Deps, payment_id: str, done: _Reversed) -> Payment:
    async with deps.uow.begin() as tx:
        payment = await payment_store.load(tx.conn, payment_id, for_update=True)
        assert payment is not None
        if payment.gateway_reversal != "pending":
            return payment  # finished by someone else meanwhile
        await payment_store.record_reversal_transaction(tx.conn, payment_id, done.transaction_id)
        if payment.status != "succeeded":
            # a webhook cancelled or charged it back meanwhile: only what moved at the gateway is added
            return await payment_store.save(tx.conn, payment, replace(payment, gateway_reversal=done.reversal))
        outcome = ledger.cancel(payment, reversal=done.reversal, reason=done.reason)
        saved = (await commit_outcome(tx, payment, outcome)).payment
    log.info("payment cancelled", payment_id=payment_id, gateway=done.reversal)
    return saved


async def _drop(deps: Deps, payment_id: str) -> None:
    async with deps.uow.begin() as tx:
        payment = await payment_store.load(tx.conn, payment_id, for_update=True)
        if payment is not None and payment.gateway_reversal == "pending":
            await payment_store.save(tx.conn, payment, replace(payment, gateway_reversal=None))


async def _load(deps: Deps, payment_id: str) -> Payment:
    payment = await payment_store.load(deps.pool, payment_id)
    assert payment is not None
    return payment


async def finish_stale(deps: Deps) -> int:
    """The reconciler's part: cancels whose answer was lost, or whose request died, are finished."""
    finished = 0
    for payment_id in await payment_store.stale_reversals(deps.pool, deps.config.pending_grace):
        sent = await payment_store.claim_reversal(deps.pool, payment_id, deps.config.pending_grace)
        if sent is None:
            continue
        try:
            payment = await carry_out(deps, payment_id, sent_before=sent, by_request=False)
        except PaymentError as exc:
            log.warning("a pending cancel could not be finished yet", payment_id=payment_id, reason=exc.message)
            continue
        finished += payment.gateway_reversal != "pending"
    return finished
