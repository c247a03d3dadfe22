"""The ledger as a state machine: random sequences of pay / partial pay / decline / void / apply /
refund / cancel / settlement failure / chargeback / replays; the DOMAIN.md invariants after every step."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.invoices import PayableInvoice
from billing_payments.domain.payment import Method, Payment
from billing_shared.money import ZERO

TODAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)
amounts = st.integers(min_value=1, max_value=200_000).map(lambda cents: Decimal(cents) / 100)


def invoice(n: int, total: Decimal, org: str = "autotask:678") -> PayableInvoice:
    return PayableInvoice(
        invoice_id=f"autotask:{n}", organization_id=org, invoice_number=str(1000 + n), source_status="open",
        currency="USD", total=total, applied=ZERO, issued_on=TODAY, due_on=None, source_paid_on=None,
        ledger_paid_on=None, pdf_url=None, source_version=1,
    )


class Ledger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.invoices: dict[str, PayableInvoice] = {}
        self.payments: dict[str, Payment] = {}
        self.last_outcome: tuple[str, str] | None = None  # (payment id, action) for replays

    # -- helpers ------------------------------------------------------------------------------
    def commit(self, outcome: ledger.Outcome, action: str) -> None:
        self.payments[outcome.payment.payment_id] = outcome.payment
        for invoice_id, delta in outcome.invoice_deltas.items():
            self.invoices[invoice_id] = self.invoices[invoice_id].moved(delta, TODAY)
        self.last_outcome = (outcome.payment.payment_id, action)

    def expect(self, code: str, fn, *args, **kwargs) -> None:
        before = (dict(self.invoices), dict(self.payments))
        with pytest.raises(PaymentError) as caught:
            fn(*args, **kwargs)
        assert caught.value.code == code, (caught.value.code, caught.value.message)
        assert (self.invoices, self.payments) == before

    def succeeded(self) -> list[Payment]:
        return [p for p in self.payments.values() if p.status == "succeeded"]

    # -- rules --------------------------------------------------------------------------------
    @rule(total=amounts, other_org=st.booleans())
    def new_invoice(self, total: Decimal, other_org: bool) -> None:
        n = len(self.invoices) + 1
        self.invoices[f"autotask:{n}"] = invoice(n, total, "autotask:999" if other_org else "autotask:678")

    @precondition(lambda self: self.invoices)
    @rule(data=st.data(), partial=st.booleans(), approved=st.booleans())
    def pay(self, data: st.DataObject, partial: bool, approved: bool) -> None:
        target = data.draw(st.sampled_from(sorted(self.invoices)))
        inv = self.invoices[target]
        if not inv.payable:
            code = "invoice_already_paid" if inv.status == "paid" else "invoice_not_payable"
            with pytest.raises(PaymentError) as caught:
                ledger.require_payable(inv)
            assert caught.value.code == code
            return
        amount = data.draw(st.integers(1, int(inv.balance * 100)).map(lambda c: Decimal(c) / 100)) \
            if partial else inv.balance
        payment = Payment(payment_id=f"p{len(self.payments) + 1}", invoice_id=target,
                          organization_id=inv.organization_id, contact_id=None, environment="autotask",
                          method=Method("credit_card", "visa", "1111"), currency="USD", original_amount=amount,
                          created_at=NOW)
        outcome = ledger.approve(payment, f"t{payment.payment_id}", NOW) if approved \
            else ledger.decline(payment, "insufficient funds")
        self.commit(outcome, "pay")

    @precondition(lambda self: any(i.status != "voided" for i in self.invoices.values()))
    @rule(data=st.data())
    def void_invoice(self, data: st.DataObject) -> None:
        target = data.draw(st.sampled_from(sorted(i for i, v in self.invoices.items() if v.status != "voided")))
        for p in list(self.payments.values()):
            outcome = ledger.unapply_voided_invoice(p, target)
            if outcome:
                self.commit(outcome, "unapply")
        self.invoices[target] = self.invoices[target].__class__(**{**vars(self.invoices[target]),
                                                                    "source_status": "voided"})

    @precondition(lambda self: self.payments and self.invoices)
    @rule(data=st.data(), keep=st.booleans())
    def apply(self, data: st.DataObject, keep: bool) -> None:
        p = self.payments[data.draw(st.sampled_from(sorted(self.payments)))]
        target = self.invoices[data.draw(st.sampled_from(sorted(self.invoices)))]
        if p.unapplied_amount <= ZERO:
            self.expect("nothing_unapplied", ledger.apply_to, p, target, NOW, keep_remainder=keep)
        elif p.status != "succeeded":
            self.expect("payment_state_conflict", ledger.apply_to, p, target, NOW, keep_remainder=keep)
        elif target.organization_id != p.organization_id:
            self.expect("invalid_request", ledger.apply_to, p, target, NOW, keep_remainder=keep)
        elif target.status == "paid":
            self.expect("invoice_already_paid", ledger.apply_to, p, target, NOW, keep_remainder=keep)
        elif target.status == "voided":
            self.expect("invoice_not_payable", ledger.apply_to, p, target, NOW, keep_remainder=keep)
        elif target.balance > p.unapplied_amount:
            self.expect("target_balance_exceeds_unapplied", ledger.apply_to, p, target, NOW, keep_remainder=keep)
        else:
            before = p
            outcome = ledger.apply_to(p, target, NOW, keep_remainder=keep)
            self.commit(outcome, "apply")
            after = outcome.payment
            assert self.invoices[target.invoice_id].status == "paid"
            assert after.applied_amount == before.applied_amount + target.balance
            rest = before.unapplied_amount - target.balance
            assert (after.unapplied_amount, after.refund_amount) == \
                ((rest, before.refund_amount) if keep else (ZERO, before.refund_amount + rest))
            assert outcome.refund_at_gateway == (ZERO if keep else rest)

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), everything=st.booleans())
    def refund(self, data: st.DataObject, everything: bool) -> None:
        p = self.payments[data.draw(st.sampled_from(sorted(self.payments)))]
        if p.unapplied_amount <= ZERO:
            self.expect("nothing_unapplied", ledger.refund, p, NOW)
            return
        if p.status != "succeeded":
            self.expect("payment_state_conflict", ledger.refund, p, NOW)
            return
        amount = None if everything else data.draw(
            st.integers(1, int(p.unapplied_amount * 100) + 100).map(lambda c: Decimal(c) / 100))
        if amount is not None and amount > p.unapplied_amount:
            self.expect("amount_exceeds_balance", ledger.refund, p, NOW, amount)
            return
        outcome = ledger.refund(p, NOW, amount)
        self.commit(outcome, "refund")
        assert outcome.payment.transactions[-1].type == "refund"
        assert outcome.payment.transactions[-1].amount == (amount or p.unapplied_amount)

    @precondition(lambda self: self.payments)
    @rule(data=st.data(), how=st.sampled_from(["cancel", "settlement_auto", "settlement_flag", "chargeback"]))
    def reverse(self, data: st.DataObject, how: str) -> None:
        p = self.payments[data.draw(st.sampled_from(sorted(self.payments)))]
        ops = {
            "cancel": lambda: ledger.cancel(p),
            "settlement_auto": lambda: ledger.settlement_failed(p, "R01 insufficient funds", auto_cancel=True),
            "settlement_flag": lambda: ledger.settlement_failed(p, "R01 insufficient funds", auto_cancel=False),
            "chargeback": lambda: ledger.charge_back(p, "disputed"),
        }
        if p.status != "succeeded":
            self.expect("payment_state_conflict", ops[how])
            return
        outcome = ops[how]()
        self.commit(outcome, how)
        if outcome.payment.status == "cancelled":
            q = outcome.payment
            assert (q.sale_amount, q.applied_amount, q.unapplied_amount, q.refund_amount) == (ZERO,) * 4
            assert q.transaction_id == p.transaction_id and q.original_amount == p.original_amount
        if how == "chargeback":
            q = outcome.payment
            assert (q.sale_amount, q.applied_amount, q.refund_amount) == (p.sale_amount, p.applied_amount, p.refund_amount)

    @precondition(lambda self: self.last_outcome is not None)
    @rule()
    def replay_last_reversal(self) -> None:
        """The same reversal delivered again (a repeated webhook) changes nothing."""
        payment_id, action = self.last_outcome  # type: ignore[misc]
        p = self.payments[payment_id]
        if action in ("cancel", "settlement_auto", "chargeback"):
            self.expect("payment_state_conflict", ledger.cancel, p)

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def payments_add_up(self) -> None:
        for p in self.payments.values():
            amounts = (p.sale_amount, p.applied_amount, p.unapplied_amount, p.refund_amount)
            assert all(a >= ZERO for a in amounts), (p.payment_id, amounts)
            if p.status != "cancelled":
                assert p.sale_amount == p.applied_amount + p.unapplied_amount + p.refund_amount, p
            if p.status in ("failed", "cancelled", "pending"):
                assert p.applied_amount == ZERO and p.unapplied_amount == ZERO

    @invariant()
    def invoices_are_sums_of_applications(self) -> None:
        for inv in self.invoices.values():
            applied = sum((p.applications().get(inv.invoice_id, ZERO) for p in self.payments.values()
                           if p.counts_on_invoices), ZERO)
            assert inv.applied == applied, (inv.invoice_id, inv.applied, applied)
            assert ZERO <= inv.total - inv.applied <= inv.total
            if inv.status != "voided":
                assert (inv.paid_on is not None) == (inv.balance == ZERO)
                assert (inv.status == "paid") == (inv.balance == ZERO)


Ledger.TestCase.settings = settings(max_examples=2000, stateful_step_count=25, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])
TestLedger = pytest.mark.timeout(600)(Ledger.TestCase)
