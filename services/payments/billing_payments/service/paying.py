"""Paying an invoice, exactly once.

1. The Idempotency-Key is looked up (with the invoice, the payer and a stored method, in one read): a
   repeat replays the stored response, a concurrent repeat gets `payment_in_progress`, another body under the
   same key `idempotency_key_reused`. A claim that names no payment (left by an older version that claimed
   first) is a lease: a retry after the lease takes over the key.
2. Preconditions are checked, the payment method is resolved (a token is first put in the gateway's
   vault, which tells its type, brand and last four). Nothing of ours changes before step 3; a refusal here
   is stored as the key's answer (one statement).
3. In one transaction (one durable commit, before the gateway is called): the key is claimed and names the
   payment (a concurrent request with the same key waits for this transaction, then is answered from the
   key), the payment is recorded `pending` under the invoice's row lock, the invoice marked in flight (one
   payment in flight per invoice) and a method to be saved added to the wallet. A crash before the commit
   leaves nothing, not even the claim.
4. The sale goes to the gateway once, with our payment id as its order id. Approved or declined is
   recorded at once; no reply leaves the payment pending and the invoice locked for the reconciler,
   which asks the gateway by order id. A crash anywhere after step 3 ends the same way.

Several invoices in one sale (`PayCommand.invoices`): every step is the same, for all of them at once. Each
invoice must pass every check (one refusal refuses the whole payment), their rows are locked in invoice_id
order (so two such payments never deadlock) and each is marked in flight by the one pending payment.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from billing_shared.money import ZERO
from billing_shared.outbox import Tx

from billing_payments.adapters import directory_store, idempotency_store, invoice_store, pay_reads, payment_store
from billing_payments.adapters.idempotency_store import Held
from billing_payments.adapters.gateway import GatewayOutcomeUnknown, GatewayUnavailable
from billing_payments.domain import rules
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Payment
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service.deps import Deps
from billing_payments.service.resolving import SaleOutcome, resolve_pending
from billing_payments.service.responses import final_response, payment_body
from billing_payments.service.wallet import ResolvedMethod, forget_unsaved, resolve_method, save_with_payment

log = structlog.get_logger(__name__)

# Not a final answer for the key: nothing happened, the same key may be tried again.
RETRYABLE = {"gateway_unavailable", "payment_in_progress"}


@dataclass(frozen=True)
class InvoiceAmount:
    invoice_id: str
    amount: Decimal | None  # its balance when None


@dataclass(frozen=True)
class PayCommand:
    invoice_id: str  # paying several invoices: unused ("" by convention), see `invoices`
    amount: Decimal | None
    contact_id: str | None
    method_id: str | None
    token: str | None
    save_to_wallet: bool
    environment: str
    caller_organization_id: str | None  # a client's organization; None for staff
    idempotency_scope: str
    idempotency_key: str
    request_hash: str
    invoices: tuple[InvoiceAmount, ...] = ()  # several invoices in one sale, instead of invoice_id/amount
    origin: str = "manual"  # "autopay" when the scheduler pays


@dataclass(frozen=True)
class PayResult:
    status: int
    body: dict[str, Any]


class _KeyHeld(Exception):
    """The Idempotency-Key is another request's (or already answered): the request is answered from it."""

    def __init__(self, held: Held | None) -> None:
        super().__init__("key held")
        self.held = held


async def pay(deps: Deps, cmd: PayCommand) -> PayResult:
    rules.require_payer(cmd.contact_id)  # a malformed request: refused before the key is looked at
    recorded = False
    try:
        settings = await deps.settings()
        record = _record_pending_many if cmd.invoices else _record_pending
        payment, resolved = await record(deps, settings, cmd)
        recorded = True
        return await _charge(deps, settings, payment, resolved)
    except _KeyHeld as held:
        return _answer_from_key(cmd, held.held)
    except PaymentError as exc:
        if recorded or exc.code in RETRYABLE:  # retryable: nothing was recorded, the same key may be tried again
            raise
        body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
        if not await idempotency_store.record_refusal(deps.pool, cmd.idempotency_scope, cmd.idempotency_key,
                                                      cmd.request_hash, exc.status, body,
                                                      lease_seconds=deps.config.idempotency_claim_lease_seconds):
            # another request with this key got in meanwhile: its answer, not ours
            return _answer_from_key(cmd, await _find_key(deps, cmd))
        raise


async def _find_key(deps: Deps, cmd: PayCommand) -> Held | None:
    return await idempotency_store.find(deps.pool, cmd.idempotency_scope, cmd.idempotency_key,
                                        lease_seconds=deps.config.idempotency_claim_lease_seconds)


def _check_key(held: Held | None) -> None:
    """Before any work: a key already used is answered from (unless its lease lapsed: then it is taken over)."""
    if held is not None and not held.lapsed:
        raise _KeyHeld(held)


def _answer_from_key(cmd: PayCommand, held: Held | None) -> PayResult:
    if held is None:  # freed between our claim and this read: a retry will claim it
        raise PaymentError("payment_in_progress", "a payment with this Idempotency-Key is in progress", payment_id=None)
    claim = held.claim
    if claim.request_hash != cmd.request_hash:
        raise PaymentError("idempotency_key_reused", "this Idempotency-Key was used with other parameters")
    if claim.completed:
        return PayResult(claim.response_status, claim.response_body)  # type: ignore[arg-type]
    raise PaymentError("payment_in_progress", "a payment with this Idempotency-Key is in progress",
                       payment_id=claim.payment_id)


async def _claim(deps: Deps, tx: Tx, cmd: PayCommand, payment_id: str) -> None:
    """The key's claim, in the transaction that records the pending payment (one durable commit for both)."""
    if not await idempotency_store.claim_for_payment(tx.conn, cmd.idempotency_scope, cmd.idempotency_key,
                                                     cmd.request_hash, payment_id,
                                                     lease_seconds=deps.config.idempotency_claim_lease_seconds):
        raise _KeyHeld(await idempotency_store.find(tx.conn, cmd.idempotency_scope, cmd.idempotency_key,
                                                    lease_seconds=deps.config.idempotency_claim_lease_seconds))
    if deps.config.test_crash_after_claim:
        os._exit(137)  # tests: the key is claimed, the transaction recording the payment not yet committed


async def _record_pending(deps: Deps, settings: ProcessingSettings,
                          cmd: PayCommand) -> tuple[Payment, ResolvedMethod]:
    reads = await pay_reads.read(deps.pool, scope=cmd.idempotency_scope, key=cmd.idempotency_key,
                                 invoice_id=cmd.invoice_id, contact_id=cmd.contact_id, method_id=cmd.method_id,
                                 lease_seconds=deps.config.idempotency_claim_lease_seconds)
    _check_key(reads.key)
    rules.check_processing(settings, cmd.environment)
    invoice = reads.invoice
    if invoice is None or (cmd.caller_organization_id and invoice.organization_id != cmd.caller_organization_id):
        raise PaymentError("not_found", "invoice not found", invoice_id=cmd.invoice_id)
    rules.amount_to_pay(invoice, settings, cmd.amount)  # fail fast, before the gateway is involved
    contact_id = rules.require_payer(cmd.contact_id)
    rules.check_payer(contact_id, reads.contact, invoice.organization_id)
    # The vault is the only place that tells a token's type, so a token is vaulted before the type check;
    # it joins our wallet (if asked to) only in the transaction below, and leaves the vault on any refusal.
    method = await resolve_method(deps, settings, invoice.organization_id, method_id=cmd.method_id, token=cmd.token,
                                  save=cmd.save_to_wallet, stored=reads.method)
    try:
        rules.check_method_type(settings, cmd.environment, method.method.type)
        async with deps.uow.begin() as tx:
            payment_id = str(uuid.uuid4())
            await _claim(deps, tx, cmd, payment_id)
            locked = await invoice_store.get(tx.conn, cmd.invoice_id, for_update=True)
            assert locked is not None
            amount = rules.amount_to_pay(locked, settings, cmd.amount)
            saved = await save_with_payment(tx, method, locked.organization_id, contact_id)
            payment = Payment(
                payment_id=payment_id, invoice_id=locked.invoice_id, organization_id=locked.organization_id,
                contact_id=contact_id, environment=cmd.environment,  # type: ignore[arg-type]
                method=saved.method, currency=locked.currency, original_amount=amount, created_at=deps.now(),
                origin=cmd.origin,  # type: ignore[arg-type]
            )
            await payment_store.insert(tx.conn, payment, vault_id=saved.vault_id, method_id=saved.method_id,
                                       in_flight=[locked.invoice_id])
    except BaseException:
        await forget_unsaved(deps, settings, method)  # still `method`: nothing of it was saved
        raise
    return payment, saved


async def _record_pending_many(deps: Deps, settings: ProcessingSettings,
                               cmd: PayCommand) -> tuple[Payment, ResolvedMethod]:
    """`_record_pending` for several invoices in one sale: the same checks for each, the same transaction."""
    _check_key(await _find_key(deps, cmd))
    rules.check_processing(settings, cmd.environment)
    ids = [line.invoice_id for line in cmd.invoices]
    requested = [line.amount for line in cmd.invoices]
    found = await invoice_store.get_many(deps.pool, ids)
    for invoice_id in ids:
        invoice = found.get(invoice_id)
        if invoice is None or (cmd.caller_organization_id and invoice.organization_id != cmd.caller_organization_id):
            raise PaymentError("not_found", "invoice not found", invoice_id=invoice_id)
    rules.amounts_to_pay([found[i] for i in ids], settings, requested)  # fail fast, before the gateway
    organization_id = found[ids[0]].organization_id
    contact_id = rules.require_payer(cmd.contact_id)
    rules.check_payer(contact_id, await directory_store.find(deps.pool, contact_id), organization_id)
    method = await resolve_method(deps, settings, organization_id, method_id=cmd.method_id, token=cmd.token,
                                  save=cmd.save_to_wallet)
    try:
        rules.check_method_type(settings, cmd.environment, method.method.type)
        async with deps.uow.begin() as tx:
            payment_id = str(uuid.uuid4())
            await _claim(deps, tx, cmd, payment_id)
            locked = await invoice_store.get_many(tx.conn, ids, for_update=True)  # in invoice_id order
            allocations = rules.amounts_to_pay([locked[i] for i in ids], settings, requested)
            first = locked[ids[0]]
            if first.organization_id != organization_id:  # moved while we checked the payer
                raise PaymentError("invalid_request", "the invoices changed organization; try again",
                                   invoice_id=first.invoice_id)
            saved = await save_with_payment(tx, method, organization_id, contact_id)
            payment = Payment(
                payment_id=payment_id, invoice_id=first.invoice_id, organization_id=organization_id,
                contact_id=contact_id, environment=cmd.environment,  # type: ignore[arg-type]
                method=saved.method, currency=first.currency,
                original_amount=sum((a.amount for a in allocations), ZERO),
                created_at=deps.now(), allocations=allocations, origin=cmd.origin,  # type: ignore[arg-type]
            )
            await payment_store.insert(tx.conn, payment, vault_id=saved.vault_id, method_id=saved.method_id,
                                       in_flight=ids)
    except BaseException:
        await forget_unsaved(deps, settings, method)  # still `method`: nothing of it was saved
        raise
    return payment, saved


async def _charge(deps: Deps, settings: ProcessingSettings, payment: Payment, method: ResolvedMethod) -> PayResult:
    gateway = deps.gateway(settings)
    try:
        sale = await gateway.sale(payment.order_id, payment.original_amount, payment.currency,
                                  vault_id=method.vault_id, payment_token=None if method.vault_id else method.token,
                                  method_type=payment.method.type)
    except GatewayOutcomeUnknown:
        log.warning("sale outcome unknown; the reconciler will ask the gateway", payment_id=payment.payment_id)
        return PayResult(201, payment_body(payment))
    except GatewayUnavailable as exc:
        # Not a decline: the sale never reached the gateway. The key is freed with the outcome, so a retry
        # with it pays afresh.
        await _settle(deps, payment.payment_id, SaleOutcome(False, None, f"gateway unavailable: {exc}",
                                                            reached_gateway=False))
        raise PaymentError("gateway_unavailable", "the payment gateway cannot be reached; nothing was charged") \
            from None
    finally:
        await forget_unsaved(deps, settings, method)
    if sale.approved and deps.config.test_crash_after_sale:
        os._exit(137)  # tests: the gateway approved, nothing is recorded yet
    resolved = await _settle(deps, payment.payment_id,
                             SaleOutcome(sale.approved, sale.transaction_id, sale.reason or sale.response_text))
    status, body = final_response(resolved)
    return PayResult(status, body)


async def _settle(deps: Deps, payment_id: str, sale: SaleOutcome) -> Payment:
    async with deps.uow.begin() as tx:
        resolved = await resolve_pending(tx, payment_id, sale, last_in_tx=True)
    assert resolved is not None
    return resolved
