"""Autopay's pure rules on a fake clock: which invoice is due on which day, upcoming notices, skip reasons
in their order, the retry schedule and the Idempotency-Key."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing_payments.domain.autopay import (
    AttemptPlan, BalanceCheck, Enrollment, Rule, decide, idempotency_key, is_due, is_upcoming, next_retry,
)
from billing_payments.domain.invoices import PayableInvoice

ENROLLED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
ON_DUE = Rule("on_due_date")
TEN_AFTER = Rule("days_after_issue", 10)


def invoice(*, issued: date = date(2026, 3, 5), due: date | None = date(2026, 4, 4), total: str = "300.00",
            applied: str = "0.00", status: str = "open", number: str | None = "1001") -> PayableInvoice:
    return PayableInvoice(invoice_id="autotask:1", organization_id="autotask:678", invoice_number=number,
                          source_status=status, currency="USD", total=Decimal(total), applied=Decimal(applied),
                          issued_on=issued, due_on=due, source_paid_on=None, ledger_paid_on=None, pdf_url=None,
                          source_version=1)


def enrollment(rule: Rule = ON_DUE, max_amount: str = "500.00") -> Enrollment:
    return Enrollment(organization_id="autotask:678", method_id="m-1", rule=rule, max_amount=Decimal(max_amount),
                      currency="USD", contact_id="autotask:901", environment="client_portal",
                      enrolled_by="autotask:901", enrolled_at=ENROLLED)


def test_on_due_date_is_due_from_the_due_date_on():
    e, inv = enrollment(), invoice()
    assert not is_due(e, inv, date(2026, 4, 3))
    assert is_due(e, inv, date(2026, 4, 4))
    assert is_due(e, inv, date(2026, 4, 9))  # a pass missed (service down): charged on the next one


def test_days_after_issue_counts_from_the_issue_date_and_zero_means_the_day_of_issue():
    inv = invoice()
    assert not is_due(enrollment(TEN_AFTER), inv, date(2026, 3, 14))
    assert is_due(enrollment(TEN_AFTER), inv, date(2026, 3, 15))
    assert is_due(enrollment(Rule("days_after_issue", 0)), inv, date(2026, 3, 5))


def test_an_invoice_without_a_due_date_is_due_on_its_issue_date():
    assert ON_DUE.charge_day(date(2026, 3, 5), None) == date(2026, 3, 5)


def test_invoices_due_before_the_enrollment_are_never_charged_by_it():
    old = invoice(issued=date(2026, 1, 5), due=date(2026, 2, 4))
    assert not is_due(enrollment(), old, date(2026, 3, 10))
    assert is_due(enrollment(), invoice(issued=date(2026, 1, 5), due=date(2026, 3, 1)), date(2026, 3, 1))


def test_paid_voided_unnumbered_or_settled_invoices_are_not_due():
    day = date(2026, 4, 4)
    assert not is_due(enrollment(), invoice(applied="300.00"), day)
    assert not is_due(enrollment(), invoice(status="voided"), day)
    assert not is_due(enrollment(), invoice(status="paid"), day)
    assert not is_due(enrollment(), invoice(number=None), day)


def test_upcoming_is_the_notice_window_before_the_charge_day():
    e, inv = enrollment(), invoice()
    assert not is_upcoming(e, inv, date(2026, 3, 31), 3)
    assert is_upcoming(e, inv, date(2026, 4, 1), 3)
    assert is_upcoming(e, inv, date(2026, 4, 3), 3)
    assert not is_upcoming(e, inv, date(2026, 4, 4), 3)  # the day itself: it is charged, not announced


def test_rules_are_checked_and_named():
    assert ON_DUE.key == "on_due_date" and TEN_AFTER.key == "days_after_issue:10"
    with pytest.raises(ValueError):
        Rule("days_after_issue", 91)
    with pytest.raises(ValueError):
        Rule("days_after_issue")
    with pytest.raises(ValueError):
        Rule("on_due_date", 3)


PLAN = AttemptPlan("on_due_date", "m-1", Decimal("500.00"))
CLEAN = BalanceCheck(accounting_balance=Decimal("300.00"), paid_elsewhere=False, voided=False)


def test_a_clean_check_charges_the_balance():
    d = decide(PLAN, enrollment(), True, invoice(), CLEAN)
    assert d.charge and d.amount == Decimal("300.00")


def test_partly_paid_in_the_books_charges_only_what_is_still_owed():
    d = decide(PLAN, enrollment(), True, invoice(), replace(CLEAN, accounting_balance=Decimal("120.00")))
    assert d.amount == Decimal("120.00")


def test_without_accounting_the_ledger_balance_is_charged():
    d = decide(PLAN, enrollment(), True, invoice(applied="100.00"), replace(CLEAN, accounting_balance=None))
    assert d.amount == Decimal("200.00")


@pytest.mark.parametrize(("case", "reason"), [
    ({"enrollment": None}, "not_enrolled"),
    ({"enrollment": enrollment(TEN_AFTER)}, "not_enrolled"),  # the rule changed after the attempt started
    ({"method_present": False}, "method_removed"),
    ({"check": replace(CLEAN, voided=True)}, "voided"),
    ({"invoice": invoice(status="voided")}, "voided"),
    ({"check": replace(CLEAN, paid_elsewhere=True, accounting_balance=Decimal("0.00"))}, "paid_elsewhere"),
    ({"check": replace(CLEAN, accounting_balance=Decimal("0.00"))}, "paid_elsewhere"),
    ({"invoice": invoice(status="paid")}, "paid_elsewhere"),
    ({"invoice": invoice(applied="300.00"), "check": replace(CLEAN, accounting_balance=Decimal("0.00"))},
     "not_payable"),  # our own payment paid it: not "elsewhere"
    ({"invoice": invoice(number=None)}, "not_payable"),
    ({"invoice": None}, "not_payable"),
    ({"invoice": replace(invoice(), in_flight_payment_id="p-1")}, "not_payable"),
    ({"enrollment": enrollment(max_amount="299.99")}, "over_maximum"),
])
def test_skip_reasons(case, reason):
    args = {"enrollment": enrollment(), "method_present": True, "invoice": invoice(), "check": CLEAN, **case}
    plan = PLAN if args["enrollment"] is None or args["enrollment"].max_amount == PLAN.max_amount \
        else replace(PLAN, max_amount=args["enrollment"].max_amount)
    d = decide(plan, args["enrollment"], args["method_present"], args["invoice"], args["check"])
    assert not d.charge and d.skip_reason == reason, d


def test_the_maximum_is_compared_with_the_amount_to_charge():
    e = enrollment(max_amount="150.00")
    plan = replace(PLAN, max_amount=Decimal("150.00"))
    assert decide(plan, e, True, invoice(), replace(CLEAN, accounting_balance=Decimal("150.00"))).amount \
        == Decimal("150.00")
    assert decide(plan, e, True, invoice(), CLEAN).skip_reason == "over_maximum"


def test_retries_follow_the_schedule_then_give_up():
    now = datetime(2026, 4, 4, 12, tzinfo=UTC)
    days = (1.0, 3.0, 7.0)
    assert next_retry(1, days, now) == now + timedelta(days=1)
    assert next_retry(2, days, now) == now + timedelta(days=3)
    assert next_retry(3, days, now) == now + timedelta(days=7)
    assert next_retry(4, days, now) is None
    assert next_retry(1, (), now) is None


def test_the_idempotency_key_names_invoice_rule_and_attempt():
    assert idempotency_key("autotask:1", "days_after_issue:10", 2) == "autopay:autotask:1:days_after_issue:10:2"
    assert idempotency_key("autotask:1", "on_due_date", 1) != idempotency_key("autotask:1", "on_due_date", 2)
