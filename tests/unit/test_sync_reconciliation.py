"""Sync's half of reconciliation, without I/O: the books and the PSA against the ledger as sync knows it."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from billing_sync.domain.reconciliation import (
    LedgerInvoice, LedgerPayment, capped, ours, paid_elsewhere_drift, payment_drift, psa_drift, psa_paid_date_to_write,
)

pytestmark = pytest.mark.timeout(30)
D = Decimal
TODAY = date(2026, 12, 1)
LINKED = {"autotask:501": "11", "autotask:502": "12"}


def payment(**overrides) -> LedgerPayment:
    values = dict(payment_id="p1", organization_id="autotask:678", status="succeeded", currency="USD",
                  sale_amount=D("500.00"), transaction_id="4001", applications={"autotask:501": D("500.00")},
                  accounting_payment_id="7", done=True, touched=("autotask:501",))
    values.update(overrides)
    return LedgerPayment(**values)  # type: ignore[arg-type]


def books(total: str = "500.00", lines: dict[str, str] | None = None, note: str = "billing-link payment p1; x",
          ref: str = "4001") -> dict:
    lines = {"11": "500.00"} if lines is None else lines
    return {"Id": "7", "TotalAmt": float(total), "PrivateNote": note, "PaymentRefNum": ref,
            "Line": [{"Amount": float(a), "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in lines.items()]}


def invoice(**overrides) -> LedgerInvoice:
    values = dict(invoice_id="autotask:501", organization_id="autotask:678", currency="USD", total=D("500.00"),
                  status="open", ours=D("500.00"), psa_paid_written=date(2026, 11, 27))
    values.update(overrides)
    return LedgerInvoice(**values)  # type: ignore[arg-type]


def test_a_payment_written_as_the_ledger_has_it_is_no_drift():
    assert payment_drift(payment(), books(), LINKED) is None
    # an application on an invoice not in these books is written unapplied: no line expected for it
    spread = payment(applications={"autotask:501": D("300.00"), "autotask:999": D("200.00")})
    assert payment_drift(spread, books(lines={"11": "300.00"}), LINKED) is None


def test_a_standing_payment_accounting_does_not_hold_is_missing():
    drift = payment_drift(payment(), None, LINKED)
    assert (drift.code, drift.payment_id, drift.amount) == ("accounting_payment_missing", "p1", D("500.00"))
    assert drift.evidence.ledger and "500.00" in drift.evidence.ledger and drift.evidence.accounting
    unapplied = payment(applications={})
    assert payment_drift(unapplied, None, LINKED).code == "accounting_payment_missing"


def test_a_different_total_or_line_is_an_amount_drift():
    drift = payment_drift(payment(), books(total="450.00", lines={"11": "450.00"}), LINKED)
    assert (drift.code, drift.accounting_id, drift.amount) == ("accounting_amount_differs", "7", D("50.00"))
    moved = payment_drift(payment(), books(lines={"12": "500.00"}), LINKED)  # same total, another invoice
    assert (moved.code, moved.amount) == ("accounting_amount_differs", D("1000.00"))


def test_a_voided_accounting_payment_of_a_standing_payment_is_an_amount_drift():
    voided = books(total="0", lines={}, note="Voided")
    drift = payment_drift(payment(), voided, LINKED)
    assert (drift.code, drift.amount) == ("accounting_amount_differs", D("500.00"))


def test_a_cancelled_payment_still_live_in_accounting_is_an_amount_drift_and_voided_is_none():
    cancelled = payment(status="cancelled", sale_amount=D("0.00"), applications={})
    drift = payment_drift(cancelled, books(), LINKED)
    assert (drift.code, drift.amount) == ("accounting_amount_differs", D("500.00"))
    assert payment_drift(cancelled, books(total="0", lines={}, note="Voided"), LINKED) is None
    assert payment_drift(cancelled, None, LINKED) is None  # never charged, or voided then deleted: nets to zero


def test_a_write_back_under_way_is_lag_not_drift():
    assert payment_drift(payment(done=False), None, LINKED) is None
    assert payment_drift(payment(status="failed", sale_amount=D("0.00"), applications={}), None, LINKED) is None


def test_ours_by_marker_or_by_reference():
    assert ours(books(), payment())
    assert ours(books(note="Voided"), payment())  # voiding replaced the note; the reference stays
    assert not ours(books(note="cheque", ref="CHK-1"), payment())


def test_psa_paid_date_against_the_ledger():
    assert psa_drift(invoice(), date(2026, 11, 27)) is None
    missing = psa_drift(invoice(), None)
    assert (missing.code, missing.invoice_id, missing.amount) == ("psa_paid_date_differs", "autotask:501", D("500.00"))
    assert missing.evidence.psa == "paid date none"
    reopened = invoice(ours=D("0.00"))
    assert psa_drift(reopened, date(2026, 11, 27)).code == "psa_paid_date_differs"  # the date we wrote stayed
    assert psa_drift(reopened, date(2026, 11, 20)) is None  # set by other means: paid elsewhere
    assert psa_drift(replace(reopened, status="paid", paid_elsewhere=True), date(2026, 11, 27)) is None
    assert psa_drift(reopened, None) is None
    assert psa_drift(invoice(status="voided"), None) is None


def test_paid_elsewhere_while_open():
    open_here = invoice(ours=D("400.00"), total=D("1000.00"))
    paid_there = {"Id": "13", "DocNumber": "1003", "TotalAmt": 1000.0, "Balance": 0}
    drift = paid_elsewhere_drift(open_here, paid_there)
    assert (drift.code, drift.invoice_id, drift.accounting_id, drift.amount) == \
        ("paid_elsewhere_while_open", "autotask:501", "13", D("600.00"))
    assert paid_elsewhere_drift(open_here, {**paid_there, "Balance": 600.0}) is None
    assert paid_elsewhere_drift(invoice(ours=D("500.00")), {**paid_there, "TotalAmt": 500.0}) is None  # ours paid it
    assert paid_elsewhere_drift(replace(open_here, status="paid"), paid_there) is None  # already known here


def test_a_resend_writes_the_paid_date_from_the_ledger():
    assert psa_paid_date_to_write(invoice(), None, TODAY) == (True, date(2026, 11, 27))
    assert psa_paid_date_to_write(invoice(psa_paid_written=None), None, TODAY) == (True, TODAY)
    assert psa_paid_date_to_write(invoice(), date(2026, 11, 28), TODAY)[0] is False
    assert psa_paid_date_to_write(invoice(ours=D("0")), date(2026, 11, 27), TODAY) == (True, None)
    assert psa_paid_date_to_write(invoice(ours=D("0")), date(2026, 11, 2), TODAY)[0] is False  # paid elsewhere


def test_capped_orders_and_truncates():
    many = [payment_drift(payment(payment_id=f"p{n:04d}"), None, LINKED) for n in range(501)]
    kept, truncated = capped(reversed(many))
    assert truncated and len(kept) == 500 and kept[0].payment_id == "p0000"
    assert capped(many[:3]) == (many[:3], False)


def test_evidence_and_summaries_stay_within_the_events_bounds():
    spread = {f"autotask:{n:06d}": D("1.00") for n in range(300)}  # a payment over 300 invoices
    drift = payment_drift(payment(payment_id="p" * 255, sale_amount=D("300.00"), applications=spread), None, LINKED)
    assert len(drift.evidence.ledger) == 2000 and drift.evidence.ledger.endswith("…")
    assert len(drift.summary) <= 500


def test_capped_keeps_one_message_within_the_brokers_limit():
    spread = {f"autotask:{n:06d}": D("1.00") for n in range(300)}
    wide = [payment_drift(payment(payment_id=f"p{n:04d}", sale_amount=D("300.00"), applications=spread), None, LINKED)
            for n in range(500)]  # 500 drifts of about 2.2 kB each
    kept, truncated = capped(wide)
    assert truncated and 0 < len(kept) < 500
    assert sum(len(d.model_dump_json()) for d in kept) <= 600_000
