"""The gateway-against-ledger comparison (pure): what is a drift, and what is only money in flight."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing_payments.domain.payment import ApplicationEntry, Method, Payment, TransactionRow
from billing_payments.domain.reconciliation import AtGateway, check_gateway

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=25)


def payment(status: str = "succeeded", **changes) -> Payment:
    p = Payment(payment_id="p1", invoice_id="autotask:1", organization_id="autotask:678", contact_id=None,
                environment="autotask", method=Method("credit_card", "visa", "1111"), currency="USD",
                original_amount=Decimal("40.00"), created_at=NOW - timedelta(hours=1), status=status)
    if status == "succeeded":
        p = replace(p, transaction_id="t1", sale_amount=Decimal("40.00"),
                    entries=(ApplicationEntry("autotask:1", Decimal("40.00"), "pay"),),
                    transactions=(TransactionRow("sale", Decimal("40.00"), NOW, "t1"),))
    return replace(p, **changes)


def sale(tid: str = "t1", order: str = "p1", amount: str = "40.00", condition: str = "pendingsettlement",
         approved: bool = True) -> AtGateway:
    return AtGateway(tid, order, "sale", Decimal(amount), approved, condition)


def refund(tid: str, amount: str, of: str = "t1", condition: str = "pendingsettlement") -> AtGateway:
    return AtGateway(tid, "p1", "refund", Decimal(amount), True, condition, of)


def codes(payments, transactions) -> list[str]:
    return sorted(d.code for d in check_gateway(payments, transactions, now=NOW, in_flight=GRACE))


def test_a_settled_sale_with_the_ledgers_refunds_is_no_drift():
    p = payment(refund_amount=Decimal("5.00"),
                transactions=(TransactionRow("sale", Decimal("40.00"), NOW, "t1"),
                              TransactionRow("refund", Decimal("5.00"), NOW, "r1")))
    assert codes([p], [sale(condition="complete"), refund("r1", "5.00")]) == []


def test_a_refund_that_failed_at_settlement_on_both_sides_is_no_drift():
    p = payment(transactions=(TransactionRow("sale", Decimal("40.00"), NOW, "t1"),
                              TransactionRow("refund", Decimal("5.00"), NOW, "r1", failure_reason="returned")))
    assert codes([p], [sale(), refund("r1", "5.00", condition="failed")]) == []


def test_a_refund_not_yet_sent_is_not_compared():
    p = payment(transactions=(TransactionRow("sale", Decimal("40.00"), NOW, "t1"),
                              TransactionRow("refund", Decimal("5.00"), NOW, None)))
    assert codes([p], [sale()]) == []


def test_a_succeeded_payment_whose_sale_is_missing_declined_voided_or_failed_is_not_at_the_gateway():
    for found in ([], [sale(approved=False)], [sale(condition="canceled")], [sale(condition="failed")]):
        assert codes([payment()], found) == ["ledger_sale_not_at_gateway"], found


def test_amounts_that_differ_are_a_drift_of_their_own():
    assert codes([payment()], [sale(amount="41.00")]) == ["gateway_amount_differs"]
    assert codes([payment()], [sale(), refund("r9", "3.00")]) == ["gateway_amount_differs"]


def test_a_standing_sale_the_ledger_has_failed_cancelled_or_not_at_all_is_unknown_to_it():
    assert codes([payment("failed")], [sale()]) == ["gateway_sale_unknown_to_ledger"]
    assert codes([payment("cancelled", gateway_reversal="none")], [sale()]) == ["gateway_sale_unknown_to_ledger"]
    assert codes([], [sale(order="elsewhere")]) == ["gateway_sale_unknown_to_ledger"]


def test_a_cancel_that_voided_or_refunded_the_sale_in_full_is_no_drift():
    assert codes([payment("cancelled", gateway_reversal="voided")], [sale(condition="canceled")]) == []
    assert codes([payment("cancelled", gateway_reversal="refunded")],
                 [sale(condition="complete"), refund("r1", "40.00")]) == []


def test_money_in_flight_is_no_drift():
    young = payment("pending", created_at=NOW - timedelta(seconds=5))
    assert codes([young], [sale()]) == []
    assert codes([payment(gateway_reversal="pending")], [sale(condition="canceled")]) == []
    assert codes([payment("pending")], [sale()]) == ["gateway_sale_unknown_to_ledger"]  # past the grace


def test_declined_sales_and_validations_are_no_drift():
    assert codes([], [sale(order="x", approved=False), AtGateway("v1", "", "validate", Decimal("0"), True, "complete")]) == []
