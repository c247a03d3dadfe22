"""Manager actions on a payment: apply its unapplied money, refund it, cancel the payment.

Each takes an optional Idempotency-Key. The same key with the same request answers what the first
request answered and moves nothing again; the same key with another request is refused. Apply and
refund store the key and their answer in the ledger's own transaction, under the payment's row lock, so
two concurrent retries serialize and the second replays. A cancel talks to the gateway after its intent
is committed, so its key is stored first and answered when the cancel settles (see `cancel`)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing_payments.adapters import action_key_store, invoice_store, payment_store
from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Payment
from billing_payments.service import cancelling
from billing_payments.service.deps import Deps
from billing_payments.service.gateway_refunds import issue_pending_refunds
from billing_payments.service.ledger_writes import commit_outcome


@dataclass(frozen=True)
class ActionKey:
    """A caller's Idempotency-Key: `request_hash` covers the action, the payment and the body."""
    scope: str
    key: str
    request_hash: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]  # the payment's snapshot, as the API answers it
    payment: Payment | None = None  # None when the answer is replayed from the key


async def apply(deps: Deps, payment_id: str, invoice_id: str, *, keep_remainder: bool,
                key: ActionKey | None = None) -> Answer:
    settings = await deps.settings()
    async with deps.uow.begin() as tx:
        payment = await _locked(tx.conn, payment_id)
        if (replay := await _replay(tx.conn, key)) is not None:
            return replay
        target = await invoice_store.get(tx.conn, invoice_id, for_update=True)
        if target is None:
            raise PaymentError("not_found", "invoice not found", invoice_id=invoice_id)
        if target.in_flight_payment_id is not None:
            raise PaymentError("payment_in_progress", "a payment of that invoice is in progress", invoice_id=invoice_id)
        outcome = ledger.apply_to(payment, target, deps.now(), keep_remainder=keep_remainder)
        saved = (await commit_outcome(tx, payment, outcome, refund_via_gateway=settings.refund_via_gateway)).payment
        answer = await _remember(tx.conn, key, saved)
    if settings.refund_via_gateway and outcome.refund_at_gateway:
        await issue_pending_refunds(deps, payment_id)
    return answer


async def refund(deps: Deps, payment_id: str, amount: Decimal | None, *, key: ActionKey | None = None) -> Answer:
    settings = await deps.settings()
    async with deps.uow.begin() as tx:
        payment = await _locked(tx.conn, payment_id)
        if (replay := await _replay(tx.conn, key)) is not None:
            return replay
        outcome = ledger.refund(payment, deps.now(), amount)
        saved = (await commit_outcome(tx, payment, outcome, refund_via_gateway=settings.refund_via_gateway)).payment
        answer = await _remember(tx.conn, key, saved)
    if settings.refund_via_gateway:
        await issue_pending_refunds(deps, payment_id)  # the intent is committed: a retry replays, never resends
    return answer


async def cancel(deps: Deps, payment_id: str, *, key: ActionKey | None = None) -> Answer:
    """The intent first, then the gateway (void, or refund of a settled sale), then the ledger: see cancelling.

    With a key: a retry after the cancel settled replays its answer; a retry of a cancel whose answer was
    never stored (lost, or the process died) answers the cancelled payment, or resumes the cancel."""
    if key is None:
        return _answer(await cancelling.cancel(deps, payment_id))
    if await payment_store.load(deps.pool, payment_id) is None:  # a key is kept only for a payment that exists
        raise PaymentError("not_found", "payment not found", payment_id=payment_id)
    stored = await action_key_store.find(deps.pool, key.scope, key.key)
    if stored is not None:
        _same_request(stored, key)
        if stored.answered:
            return Answer(stored.response_status, stored.response_body)  # type: ignore[arg-type]
        payment = await payment_store.load(deps.pool, payment_id)
        if payment is not None and payment.status == "cancelled" and payment.gateway_reversal != "pending":
            return await _answer_cancel(deps, key, payment)
    elif not await action_key_store.record(deps.pool, key.scope, key.key, key.request_hash, payment_id):
        return await cancel(deps, payment_id, key=key)  # a concurrent retry stored it first: read it
    try:
        payment = await cancelling.cancel(deps, payment_id)
    except PaymentError:
        await action_key_store.forget(deps.pool, key.scope, key.key)  # nothing moved: the key is free again
        raise
    if payment.gateway_reversal == "pending":  # the gateway's answer was lost: a retry finishes it
        return _answer(payment)
    return await _answer_cancel(deps, key, payment)


async def _answer_cancel(deps: Deps, key: ActionKey, payment: Payment) -> Answer:
    answer = _answer(payment)
    await action_key_store.answer(deps.pool, key.scope, key.key, answer.status, answer.body)
    return answer


async def _replay(conn, key: ActionKey | None) -> Answer | None:  # type: ignore[no-untyped-def]
    if key is None:
        return None
    stored = await action_key_store.find(conn, key.scope, key.key)
    if stored is None:
        return None
    _same_request(stored, key)
    if not stored.answered:  # only a cancel leaves a key unanswered; this request is not that cancel
        raise PaymentError("idempotency_key_reused", "this Idempotency-Key was used with other parameters")
    return Answer(stored.response_status, stored.response_body)  # type: ignore[arg-type]


async def _remember(conn, key: ActionKey | None, saved: Payment) -> Answer:  # type: ignore[no-untyped-def]
    answer = _answer(saved)
    if key is not None:
        await action_key_store.record(conn, key.scope, key.key, key.request_hash, saved.payment_id,
                                      status=answer.status, body=answer.body)
    return answer


def _same_request(stored: action_key_store.ActionKey, key: ActionKey) -> None:
    if stored.request_hash != key.request_hash:
        raise PaymentError("idempotency_key_reused", "this Idempotency-Key was used with other parameters")


def _answer(payment: Payment) -> Answer:
    # 202: the gateway's answer to a cancel was lost; the cancel stays recorded (`gateway_reversal: pending`)
    # and the reconciler finishes it
    status = 202 if payment.gateway_reversal == "pending" else 200
    return Answer(status, payment.snapshot().model_dump(mode="json"), payment)


async def _locked(conn, payment_id: str) -> Payment:  # type: ignore[no-untyped-def]
    payment = await payment_store.load(conn, payment_id, for_update=True)
    if payment is None:
        raise PaymentError("not_found", "payment not found", payment_id=payment_id)
    return payment
