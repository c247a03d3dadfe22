"""Gateway webhooks: the raw body is verified before it is parsed; each event id or nonce counts once;
settlement failures cancel (when `auto_cancel_unsettled` is on) and chargebacks reopen invoices; a refund's
settlement failure takes the refund back. Events are matched to the sale or a refund by transaction id."""
from __future__ import annotations

import uuid
from typing import Literal

from billing_shared.outbox import Tx

from billing_payments.adapters import payment_store, webhook_store
from billing_payments.adapters.gateway_webhooks import (
    CHARGEBACK, CHECK_LATE_RETURN, CHECK_RETURN, SALE_FAILURE, SALE_SUCCESS, SALE_UNKNOWN, SETTLEMENT_FAILURE,
    GatewayWebhook, InvalidSignature, MalformedWebhook, parse_envelope, parse_webhook, verify_signature,
)
from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Payment
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service.deps import Deps
from billing_payments.service.ledger_writes import commit_outcome
from billing_payments.service.resolving import SaleOutcome, resolve_pending

SETTLEMENT_FAILURES = {CHECK_RETURN, CHECK_LATE_RETURN, SETTLEMENT_FAILURE}
REFUND_ACTIONS = {"refund", "credit"}


async def receive(deps: Deps, raw: bytes, signature: str | None) -> str:
    """Returns what the delivery did: an event type published, `duplicate`, or why it was ignored.
    The signature is checked first, then the envelope is read and the type looked at: only the types
    that change money have their body validated; any other type is recorded and ignored."""
    key = deps.config.gateway_webhook_signing_key
    try:
        nonce = verify_signature(raw, signature, key.get_secret_value() if key else "")
    except InvalidSignature as exc:
        raise PaymentError("invalid_signature", str(exc)) from None
    try:
        envelope = parse_envelope(raw)
        # a malformed money event is refused unrecorded, so that the gateway's corrected retry still counts
        hook = parse_webhook(raw) if envelope.acted_on else None
    except MalformedWebhook as exc:
        raise PaymentError("invalid_request", exc.message, fields=exc.fields, problems=exc.problems) from None
    order_id = envelope.event_body.get("order_id")
    recorded_order = order_id if isinstance(order_id, str) and order_id else None
    if hook is None or _payment_id(hook) is None:
        # Nothing to act on, or news of an order that cannot be a payment of ours (our order ids are payment
        # ids): recorded in one statement, without a transaction or a lock.
        new = await webhook_store.record(deps.pool, envelope.record_id(nonce), nonce, envelope.event_type,
                                         recorded_order,
                                         hook.model_dump(mode="json") if hook else envelope.model_dump(mode="json"),
                                         _NO_PAYMENT if hook else _NOT_MONEY)
        return (_NO_PAYMENT if hook else _NOT_MONEY) if new else "duplicate"
    settings = await deps.settings()
    try:
        async with deps.uow.begin() as tx:
            # The payment's row lock orders concurrent deliveries; the delivery is recorded with its
            # outcome, and a repeat (same event id or nonce) rolls back whatever it would have done.
            outcome = await _act(tx, hook, settings)
            if not await webhook_store.record(tx.conn, envelope.record_id(nonce), nonce, envelope.event_type,
                                              recorded_order, hook.model_dump(mode="json"), outcome):
                raise _Repeated
    except _Repeated:
        return "duplicate"
    return outcome


class _Repeated(Exception):
    pass


_NOT_MONEY = "ignored: not an event that changes money"
_NO_PAYMENT = "ignored: no payment has this order id"


def _payment_id(hook: GatewayWebhook) -> uuid.UUID | None:
    """The payment the event's order id names, if it can name one (our order ids are payment ids)."""
    try:
        return uuid.UUID(hook.event_body.order_id or "")
    except ValueError:
        return None


def _transaction_of(payment: Payment, hook: GatewayWebhook) -> Literal["sale", "refund"] | None:
    """Which of the payment's transactions the event is about. Refunds carry the sale's order id, so the
    order id alone never decides: the transaction id (and the action's type) do."""
    body = hook.event_body
    refunds = {t.transaction_id for t in payment.transactions if t.type == "refund" and t.transaction_id}
    if body.transaction_id in refunds:
        return "refund"
    if body.action is not None and body.action.action_type in REFUND_ACTIONS:
        return None  # a refund we hold no transaction id for: it must not touch the sale
    if body.transaction_id == payment.transaction_id:
        return "sale"
    if payment.status == "pending":
        return "sale"  # the sale's id is not known yet: any other news of this order is news of the sale
    return None


async def _act(tx: Tx, hook: GatewayWebhook, settings: ProcessingSettings) -> str:
    kind = hook.event_type
    body = hook.event_body
    payment = await payment_store.load(tx.conn, body.order_id or "", for_update=True)
    if payment is None:
        return _NO_PAYMENT
    which = _transaction_of(payment, hook)
    if which is None:
        return "ignored: no sale or refund of this payment has this transaction id"
    if kind == SALE_UNKNOWN:
        return "noted: the reconciler asks the gateway"
    if which == "refund":
        return await _refund_news(tx, payment, hook)
    if payment.status == "pending":
        # any news of the sale tells its outcome: record that first
        payment = await resolve_pending(tx, payment.payment_id, SaleOutcome(
            kind != SALE_FAILURE, body.transaction_id, _reason(hook) if kind == SALE_FAILURE else None))
        assert payment is not None
    if kind in (SALE_SUCCESS, SALE_FAILURE):
        return f"resolved: {payment.status}"
    try:
        if kind in SETTLEMENT_FAILURES:
            outcome = ledger.settlement_failed(payment, _reason(hook), auto_cancel=settings.auto_cancel_unsettled)
        else:
            outcome = ledger.charge_back(payment, _reason(hook))
    except PaymentError as exc:
        return f"ignored: {exc.message}"
    await commit_outcome(tx, payment, outcome, correlation_id=hook.event_id)
    return outcome.event_type


async def _refund_news(tx: Tx, payment: Payment, hook: GatewayWebhook) -> str:
    """A refund failed at settlement never reached the client: the ledger takes it back (the amount is
    unapplied again) and `payment.refund_failed` tells staff. Other news of a refund changes nothing."""
    if hook.event_type not in SETTLEMENT_FAILURES:
        return "ignored: not news that changes a refund"
    try:
        outcome = ledger.refund_failed(payment, hook.event_body.transaction_id, _reason(hook))
    except PaymentError as exc:
        return f"ignored: {exc.message}"
    if outcome is None:
        return "ignored: this refund is already recorded as failed"
    await commit_outcome(tx, payment, outcome, correlation_id=hook.event_id)
    return outcome.event_type


def _reason(hook: GatewayWebhook) -> str:
    what = {CHECK_RETURN: "eCheck returned", CHECK_LATE_RETURN: "eCheck returned late",
            SETTLEMENT_FAILURE: "settlement failed", CHARGEBACK: "charged back",
            SALE_FAILURE: "declined"}.get(hook.event_type, hook.event_type)
    action = hook.event_body.action
    detail = action.response_text if action and action.response_text else None
    return f"{what}: {detail}" if detail else what
