"""Autopay: an organization's stored method charges each of its invoices on the day its rule says, once.

1. **The scheduler** (one leader among replicas, by a session advisory lock) finds the invoices that became
   due under their organization's rule and records attempt 1 of each (unique per invoice, rule and attempt
   number: a second replica, or a pass after a crash, finds the row), asking sync in the same transaction
   for the invoice's balance in the books (`autopay.balance_check_requested`). It sends `autopay.upcoming`
   once per invoice and rule, `AUTOPAY_NOTICE_DAYS` before the charge day.
2. **Sync's answer** (`autopay.balance_checked`) decides, in the consumer's transaction: skip with a reason
   (`domain/autopay.decide`), or fix the amount and mark the attempt `charging`.
3. **The charge** goes through `pay()` like any payment, with an Idempotency-Key derived from invoice, rule
   and attempt number. A leader killed mid-charge and the one after it send the same key with the same body:
   the second gets the first one's payment (replayed, or still pending until the reconciler asks the
   gateway), never a second sale.
4. **A decline** is tried again after `AUTOPAY_RETRY_DAYS` (attempt n+1, with its own balance check); after
   the last one the attempt is `gave_up` and `autopay.failed` says no more tries follow.
"""
from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog

from billing_shared.events.autopay import (
    AutopayBalanceChecked, AutopayBalanceCheckRequested, AutopayFailed, AutopayNoticeData, AutopaySucceeded,
    AutopayUpcoming, BalanceCheckRequestedData,
)
from billing_shared.events.catalog import BILLING_PAYMENTS
from billing_shared.events.payments import PaymentMethodSummary
from billing_shared.leadership import lead_forever
from billing_shared.outbox import Tx
from billing_shared.web.auth import Principal

from billing_payments.adapters import autopay_store, directory_store, invoice_store, wallet_store
from billing_payments.adapters.autopay_store import Attempt
from billing_payments.domain import autopay as rules_of
from billing_payments.domain import rules
from billing_payments.domain.autopay import AttemptPlan, BalanceCheck, Enrollment, Rule
from billing_payments.domain.errors import PaymentError
from billing_payments.service.deps import Deps
from billing_payments.service.paying import PayCommand, pay

log = structlog.get_logger(__name__)

PRODUCER = "payments"
BATCH = 50
IDEMPOTENCY_SCOPE = "autopay"
# pay() refusals that mean "nothing happened, try the same charge again later".
TRY_AGAIN = {"payment_in_progress", "gateway_unavailable"}


# -- enrollment -----------------------------------------------------------------------------------------
async def enroll(deps: Deps, organization_id: str, who: Principal, method_id: str, rule: Rule,
                 max_amount: Decimal, contact_id: str | None) -> Enrollment:
    """A stored method of this organization, a rule and a maximum. The payer is the client itself, or for
    staff the contact named (else the method's own contact); autopay pays in the enroller's environment."""
    method = await wallet_store.get(deps.pool, method_id)
    if method is None or method.organization_id != organization_id:
        raise PaymentError("not_found", "payment method not found", method_id=method_id)
    environment = "client_portal" if who.role == "client" else "autotask"
    payer = who.contact_id if who.role == "client" else (contact_id or method.contact_id)
    if not payer:
        raise PaymentError("invalid_request", "contact_id is required: name the contact autopay pays as")
    settings = await deps.settings()
    rules.check_processing(settings, environment)
    rules.check_method_type(settings, environment, method.type)
    rules.check_payer(payer, await directory_store.find(deps.pool, payer), organization_id)
    assert settings.currency is not None  # processing is active
    return await autopay_store.put_enrollment(deps.pool, Enrollment(
        organization_id=organization_id, method_id=method.method_id, rule=rule, max_amount=max_amount,
        currency=settings.currency, contact_id=payer, environment=environment,
        enrolled_by=who.contact_id or who.role, enrolled_at=deps.now(),
    ))


# -- the scheduler --------------------------------------------------------------------------------------
class AutopayScheduler:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.wake = asyncio.Event()

    async def run(self) -> None:
        interval = self.deps.config.autopay_interval_seconds

        async def work() -> bool:
            await tick(self.deps)
            return False

        await lead_forever(self.deps.pool, lock=autopay_store.LOCK, channel=autopay_store.CHANNEL, work=work,
                           wake=self.wake, idle_seconds=interval, standby_seconds=interval, name="autopay")


async def tick(deps: Deps) -> None:
    """One pass: start what became due, ask for the checks whose time came, charge what was decided."""
    await start_due(deps)
    await request_checks(deps)
    await charge_ready(deps)


async def start_due(deps: Deps) -> None:
    today = deps.today()
    notice_days = deps.config.autopay_notice_days
    for c in await autopay_store.candidates(deps.pool):
        rule = c.enrollment.rule
        charge_on = rule.charge_day(c.invoice.issued_on, c.invoice.due_on)
        if rules_of.is_due(c.enrollment, c.invoice, today):
            async with deps.uow.begin() as tx:
                attempt = await autopay_store.insert_attempt(
                    tx.conn, organization_id=c.enrollment.organization_id, invoice_id=c.invoice.invoice_id,
                    rule_key=rule.key, attempt_number=1, method_id=c.enrollment.method_id,
                    max_amount=c.enrollment.max_amount, charge_on=charge_on, run_at=deps.now(), status="checking")
                if attempt is not None:
                    _request_check(tx, attempt)
                    log.info("autopay attempt started", attempt_id=attempt.attempt_id, invoice_id=attempt.invoice_id)
        elif not c.noticed and rules_of.is_upcoming(c.enrollment, c.invoice, today, notice_days):
            async with deps.uow.begin() as tx:
                if await autopay_store.mark_noticed(tx.conn, c.invoice.invoice_id, rule.key):
                    method = await wallet_store.get(tx.conn, c.enrollment.method_id)
                    tx.publish(BILLING_PAYMENTS, AutopayUpcoming.new(
                        producer=PRODUCER, organization_id=c.enrollment.organization_id,
                        data=AutopayNoticeData(
                            attempt_id=f"upcoming:{c.invoice.invoice_id}:{rule.key}", attempt_number=1,
                            organization_id=c.enrollment.organization_id, invoice_id=c.invoice.invoice_id,
                            invoice_number=c.invoice.invoice_number, currency=c.invoice.currency,  # type: ignore[arg-type]
                            amount=c.invoice.balance, charge_on=charge_on, method=_summary(method))))


async def request_checks(deps: Deps) -> None:
    now = deps.now()
    stale = now - timedelta(seconds=deps.config.autopay_check_timeout_seconds)
    async with deps.uow.begin() as tx:
        for attempt in await autopay_store.start_checks(tx.conn, now, stale, BATCH):
            _request_check(tx, attempt)


def _request_check(tx: Tx, attempt: Attempt) -> None:
    tx.publish(BILLING_PAYMENTS, AutopayBalanceCheckRequested.new(
        producer=PRODUCER, organization_id=attempt.organization_id,
        data=BalanceCheckRequestedData(attempt_id=attempt.attempt_id, invoice_id=attempt.invoice_id)))


# -- sync's answer --------------------------------------------------------------------------------------
async def on_balance_checked(tx: Tx, event: AutopayBalanceChecked) -> None:
    """Charge or skip. Only an attempt still waiting for its check moves: a repeated or late answer (the
    check was asked again) finds it moved already."""
    data = event.data
    attempt = await autopay_store.get_attempt(tx.conn, data.attempt_id, for_update=True)
    if attempt is None or attempt.status != "checking" or attempt.invoice_id != data.invoice_id:
        return
    enrollment = await autopay_store.get_enrollment(tx.conn, attempt.organization_id)
    invoice = await invoice_store.get(tx.conn, attempt.invoice_id)
    decision = rules_of.decide(
        AttemptPlan(attempt.rule_key, attempt.method_id, attempt.max_amount), enrollment,
        await autopay_store.method_present(tx.conn, attempt.method_id), invoice,
        BalanceCheck(data.accounting_balance, data.paid_elsewhere, data.voided))
    if decision.amount is not None:
        await autopay_store.set_charging(tx.conn, attempt.attempt_id, decision.amount, data.accounting_balance)
        return
    await autopay_store.finish(tx.conn, attempt.attempt_id, "skipped", from_status="checking",
                               skip_reason=decision.skip_reason, failure_reason=decision.detail,
                               accounting_balance=data.accounting_balance)
    log.info("autopay attempt skipped", attempt_id=attempt.attempt_id, reason=decision.skip_reason)


# -- the charge -----------------------------------------------------------------------------------------
async def charge_ready(deps: Deps) -> None:
    for attempt in await autopay_store.ready_to_charge(deps.pool, BATCH):
        await charge(deps, attempt)


def request_hash(attempt: Attempt) -> str:
    assert attempt.amount is not None
    return hashlib.sha256(f"{attempt.invoice_id}|{attempt.amount}|{attempt.method_id}".encode()).hexdigest()


async def charge(deps: Deps, attempt: Attempt) -> None:
    enrollment = await autopay_store.get_enrollment(deps.pool, attempt.organization_id)
    if enrollment is None or enrollment.rule.key != attempt.rule_key or enrollment.method_id != attempt.method_id:
        await _skip(deps, attempt, "not_enrolled", "autopay was turned off or changed before the charge")
        return
    assert attempt.amount is not None
    cmd = PayCommand(
        invoice_id=attempt.invoice_id, amount=attempt.amount, contact_id=enrollment.contact_id,
        method_id=attempt.method_id, token=None, save_to_wallet=False, environment=enrollment.environment,
        caller_organization_id=attempt.organization_id, idempotency_scope=IDEMPOTENCY_SCOPE,
        idempotency_key=rules_of.idempotency_key(attempt.invoice_id, attempt.rule_key, attempt.attempt_number),
        request_hash=request_hash(attempt), origin="autopay",
    )
    try:
        result = await pay(deps, cmd)
    except PaymentError as exc:
        if exc.code in TRY_AGAIN:
            log.info("autopay charge to be tried again", attempt_id=attempt.attempt_id, code=exc.code)
            return
        reason = "method_removed" if exc.code == "not_found" and "method" in exc.message else "not_payable"
        await _skip(deps, attempt, reason, exc.message)
        return
    await record_result(deps, attempt, result.body)


async def record_result(deps: Deps, attempt: Attempt, body: dict[str, Any]) -> None:
    """The payment's snapshot (201), or the decline's body (402, the snapshot in its details)."""
    payment = body if "payment_id" in body else ((body.get("error") or {}).get("details") or {}).get("payment")
    if not payment:  # another refusal stored under the key (replayed): nothing was charged
        message = ((body.get("error") or {}).get("message")) or "refused"
        await _skip(deps, attempt, "not_payable", message)
        return
    if payment["status"] == "pending":  # no answer from the gateway yet: the reconciler asks it
        await autopay_store.set_payment(deps.pool, attempt.attempt_id, payment["payment_id"])
        return
    method = PaymentMethodSummary.model_validate(payment["method"])
    notice = dict(attempt_id=attempt.attempt_id, attempt_number=attempt.attempt_number,
                  organization_id=attempt.organization_id, invoice_id=attempt.invoice_id,
                  currency=payment["currency"], amount=Decimal(payment["original_amount"]),
                  charge_on=deps.today(), method=method, payment_id=payment["payment_id"])
    invoice = await invoice_store.get(deps.pool, attempt.invoice_id)
    notice["invoice_number"] = invoice.invoice_number if invoice else None
    async with deps.uow.begin() as tx:
        if payment["status"] == "succeeded":
            if await autopay_store.finish(tx.conn, attempt.attempt_id, "succeeded", from_status="charging",
                                          payment_id=payment["payment_id"]):
                tx.publish(BILLING_PAYMENTS, AutopaySucceeded.new(
                    producer=PRODUCER, organization_id=attempt.organization_id,
                    data=AutopayNoticeData(**notice)))  # type: ignore[arg-type]
            return
        reason = payment.get("failure_reason") or "declined"
        retry_at = rules_of.next_retry(attempt.attempt_number, deps.config.autopay_retry_days, deps.now())
        status = "failed" if retry_at else "gave_up"
        if not await autopay_store.finish(tx.conn, attempt.attempt_id, status, from_status="charging",
                                          failure_reason=reason, payment_id=payment["payment_id"]):
            return
        if retry_at is not None:
            await autopay_store.insert_attempt(
                tx.conn, organization_id=attempt.organization_id, invoice_id=attempt.invoice_id,
                rule_key=attempt.rule_key, attempt_number=attempt.attempt_number + 1, method_id=attempt.method_id,
                max_amount=attempt.max_amount, charge_on=attempt.charge_on, run_at=retry_at, status="scheduled")
        tx.publish(BILLING_PAYMENTS, AutopayFailed.new(
            producer=PRODUCER, organization_id=attempt.organization_id,
            data=AutopayNoticeData(**notice, reason=reason, final=retry_at is None,  # type: ignore[arg-type]
                                   next_attempt_on=retry_at.date() if retry_at else None)))
        log.info("autopay charge declined", attempt_id=attempt.attempt_id, final=retry_at is None)


async def _skip(deps: Deps, attempt: Attempt, reason: str, detail: str) -> None:
    async with deps.uow.begin() as tx:
        await autopay_store.finish(tx.conn, attempt.attempt_id, "skipped", from_status="charging",
                                   skip_reason=reason, failure_reason=detail)
    log.info("autopay attempt skipped", attempt_id=attempt.attempt_id, reason=reason)


def _summary(method: wallet_store.WalletMethod | None) -> PaymentMethodSummary:
    if method is None:
        return PaymentMethodSummary(type="credit_card")
    return PaymentMethodSummary(type=method.type, brand=method.brand, last4=method.last4)  # type: ignore[arg-type]
