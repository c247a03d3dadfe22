"""Gateway webhooks: the raw body is verified before it is parsed; each event id or nonce counts once;
settlement failures cancel (when `auto_cancel_unsettled` is on) and chargebacks reopen invoices."""
from __future__ import annotations

from pydantic import ValidationError

from billing_shared.outbox import Tx

from billing_payments.adapters import payment_store, webhook_store
from billing_payments.adapters.gateway_webhooks import (
    CHARGEBACK, CHECK_LATE_RETURN, CHECK_RETURN, SALE_UNKNOWN, SETTLEMENT_FAILURE, GatewayWebhook, InvalidSignature,
    parse_webhook, verify_signature,
)
from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service.deps import Deps
from billing_payments.service.ledger_writes import commit_outcome
from billing_payments.service.resolving import SaleOutcome, resolve_pending

SETTLEMENT_FAILURES = {CHECK_RETURN, CHECK_LATE_RETURN, SETTLEMENT_FAILURE}
SALE_SUCCESS, SALE_FAILURE = "transaction.sale.success", "transaction.sale.failure"


async def receive(deps: Deps, raw: bytes, signature: str | None) -> str:
    """Returns what the delivery did: an event type published, `duplicate`, or why it was ignored."""
    key = deps.config.gateway_webhook_signing_key
    try:
        nonce = verify_signature(raw, signature, key.get_secret_value() if key else "")
    except InvalidSignature as exc:
        raise PaymentError("invalid_signature", str(exc)) from None
    try:
        hook = parse_webhook(raw)
    except (ValidationError, ValueError) as exc:
        raise PaymentError("invalid_request", f"not a gateway webhook: {exc}") from None
    settings = await deps.settings()
    try:
        async with deps.uow.begin() as tx:
            # The payment's row lock orders concurrent deliveries; the delivery is recorded with its
            # outcome, and a repeat (same event id or nonce) rolls back whatever it would have done.
            outcome = await _act(tx, hook, settings)
            if not await webhook_store.record(tx.conn, hook.event_id, nonce, hook.event_type,
                                              hook.event_body.order_id, hook.model_dump(mode="json"), outcome):
                raise _Repeated
    except _Repeated:
        return "duplicate"
    return outcome


class _Repeated(Exception):
    pass


async def _act(tx: Tx, hook: GatewayWebhook, settings: ProcessingSettings) -> str:
    kind = hook.event_type
    if kind not in SETTLEMENT_FAILURES | {CHARGEBACK, SALE_SUCCESS, SALE_FAILURE, SALE_UNKNOWN}:
        return "ignored: not an event that changes money"
    body = hook.event_body
    payment = await payment_store.load(tx.conn, body.order_id or "", for_update=True)
    if payment is None:
        return "ignored: no payment has this order id"
    if kind == SALE_UNKNOWN:
        return "noted: the reconciler asks the gateway"
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


def _reason(hook: GatewayWebhook) -> str:
    what = {CHECK_RETURN: "eCheck returned", CHECK_LATE_RETURN: "eCheck returned late",
            SETTLEMENT_FAILURE: "settlement failed", CHARGEBACK: "charged back",
            SALE_FAILURE: "declined"}.get(hook.event_type, hook.event_type)
    action = hook.event_body.action
    detail = action.response_text if action and action.response_text else None
    return f"{what}: {detail}" if detail else what
