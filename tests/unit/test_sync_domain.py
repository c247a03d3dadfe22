"""Sync's domain rules, without I/O: invoice snapshots and their versions, paid elsewhere, the payment
write-back plan, PSA paid dates, default contacts, quotes, run plans and watermarks."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_shared.events.payments import PaymentSnapshot, TransactionRow
from billing_sync.domain import psa
from billing_sync.domain.directory import ContactChoice, default_contact, is_open, quote_url
from billing_sync.domain.integrations import INTUIT_TOKEN_URL, image_sources, token_url_for
from billing_sync.domain.invoices import (
    AccountingLink, compose_psa_record, next_version, paid_elsewhere, paid_in_psa,
)
from billing_sync.domain.runs import Watermark, advance, choose_mode, is_due, plan_since, watermarks_after
from billing_sync.domain.writeback import (
    accepts, as_recorded, by_payment, latest_in_order, live_applications, newest_live, paid_dates, payment_matches,
    target_for,
)

pytestmark = pytest.mark.timeout(30)
TODAY = date(2026, 11, 27)
D = Decimal


def psa_invoice(**overrides) -> psa.PsaInvoice:
    row = {"id": 501, "companyID": 678, "invoiceNumber": None, "invoiceTotal": 500.0,
           "invoiceDateTime": "2026-11-01T00:00:00.000Z", "dueDate": "2026-12-01T00:00:00.000Z", "isVoided": False}
    return psa.invoice({**row, **overrides})


def link(balance: str = "500.00", total: str = "500.00", number: str | None = "1042", **kw) -> AccountingLink:
    return AccountingLink("77", number, "USD", D(total), D(balance), **kw)


def compose(invoice=None, acct=None, ours=D("0"), by_accounting=True, ours_paid_on=None):
    return compose_psa_record(invoice or psa_invoice(), acct, ours, numbered_by_accounting=by_accounting,
                              default_currency="USD", today=TODAY, ours_paid_on=ours_paid_on)


# -- PSA rows ----------------------------------------------------------------------------------------
def test_psa_rows_become_records_with_source_ids_and_exact_money():
    invoice = psa_invoice(invoiceTotal=123.45)
    assert (invoice.invoice_id, invoice.organization_id, invoice.total) == ("autotask:501", "autotask:678", D("123.45"))
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 11, 1), date(2026, 12, 1))
    contact = psa.contact({"id": 901, "companyID": 678, "firstName": "Ada", "lastName": "Payer", "isActive": 0})
    assert (contact.contact_id, contact.name, contact.active) == ("autotask:901", "Ada Payer", False)
    line = psa.invoice_line({"description": "Backup", "quantity": 10.0, "rate": 12.5, "extendedPrice": 125.0})
    assert line == {"description": "Backup", "quantity": "10", "unit_price": "12.50", "amount": "125.00"}


# -- invoice snapshots ---------------------------------------------------------------------------------
def test_with_accounting_the_number_is_the_doc_number_and_without_a_link_there_is_none():
    assert compose(acct=link(number="1042")).invoice_number == "1042"
    assert compose(psa_invoice(invoiceNumber="AT-9")).invoice_number is None
    assert compose(psa_invoice(invoiceNumber="AT-9"), by_accounting=False).invoice_number == "AT-9"


def test_voided_in_the_psa_or_zeroed_in_accounting_is_voided():
    assert compose(psa_invoice(isVoided=True), link()).status == "voided"
    assert compose(acct=link(balance="0.00", total="0.00")).status == "voided"


def test_paid_elsewhere_only_when_the_balance_is_zero_and_not_all_of_it_is_our_own_payments():
    assert compose(acct=link(balance="0.00")).status == "paid"
    assert compose(acct=link(balance="0.00")).paid_on == TODAY
    assert compose(acct=link(balance="0.00", paid_elsewhere_on=date(2026, 11, 20))).paid_on == date(2026, 11, 20)
    # our own payment alone brought it to 0: payments' ledger decides; sync keeps saying open
    assert compose(acct=link(balance="0.00"), ours=D("500.00")).status == "open"
    assert compose(acct=link(balance="200.00")).status == "open"
    assert compose(acct=link(balance="200.00"), ours=D("300.00")).status == "open"
    assert not paid_elsewhere(None, D("0"))


def test_paid_partly_by_us_and_partly_elsewhere_is_paid():
    # 1000: we took 400, the other 600 was paid in accounting by other means: nothing is left to pay
    mixed = compose(psa_invoice(invoiceTotal=1000.0),
                    link(balance="0.00", total="1000.00", paid_elsewhere_on=date(2026, 11, 25)), ours=D("400.00"))
    assert (mixed.status, mixed.paid_on) == ("paid", date(2026, 11, 25))
    assert paid_elsewhere(link(balance="0.00", total="1000.00"), D("999.99"))
    assert not paid_elsewhere(link(balance="0.00", total="1000.00"), D("1000.00"))
    # our share cancelled (its accounting payment voided): the balance leaves 0, open again
    assert compose(psa_invoice(invoiceTotal=1000.0), link(balance="400.00", total="1000.00")).status == "open"


def test_a_psa_paid_date_sync_did_not_write_means_paid_elsewhere_even_without_accounting():
    paid = psa_invoice(invoiceNumber="AT-9", paidDate="2026-11-20T00:00:00")
    record = compose(paid, by_accounting=False)
    assert (record.invoice_number, record.status, record.paid_on) == ("AT-9", "paid", date(2026, 11, 20))
    assert next_version(None, record).status == "paid"
    # the paid date sync wrote for our own payments (or one it wrote and cleared since): ours, open
    assert compose(paid, by_accounting=False, ours_paid_on=date(2026, 11, 20)).status == "open"
    # written by our write-back and not yet recorded: our live payments cover the invoice
    assert compose(paid, by_accounting=False, ours=D("500.00")).status == "open"
    # partly ours, the PSA shows it paid on another day: paid elsewhere
    assert compose(paid, by_accounting=False, ours=D("100.00"), ours_paid_on=date(2026, 11, 1)).status == "paid"
    assert compose(psa_invoice(invoiceNumber="AT-9"), by_accounting=False).status == "open"
    # with accounting too (not linked yet: no number, so not payable either way)
    assert compose(paid, acct=link()).status == "paid"
    assert not paid_in_psa(psa_invoice(), D("0"), None)


def test_versions_grow_only_when_a_published_field_changes():
    first = next_version(None, compose(acct=link()))
    assert first is not None and first.version == 1
    assert next_version(first, compose(acct=link())) is None
    paid = next_version(first, compose(acct=link(balance="0.00")))
    assert paid is not None and (paid.version, paid.status) == (2, "paid")


def test_a_new_open_invoice_without_a_number_is_not_published_until_numbered():
    assert next_version(None, compose()) is None
    assert next_version(None, compose(psa_invoice(isVoided=True))).status == "voided"


# -- payment write-back ------------------------------------------------------------------------------
def snapshot(status="succeeded", sale="500.00", applied="500.00", unapplied="0.00", refund="0.00",
             applications=(("autotask:501", "500.00"),), payment_id="p1") -> PaymentSnapshot:
    return PaymentSnapshot.model_validate({
        "payment_id": payment_id, "transaction_id": "9001", "order_id": payment_id, "organization_id": "autotask:678",
        "contact_id": "autotask:901", "environment": "client_portal", "method": {"type": "credit_card"},
        "currency": "USD", "status": status, "sale_amount": sale, "applied_amount": applied,
        "unapplied_amount": unapplied, "refund_amount": refund, "original_amount": sale,
        "applications": [{"invoice_id": i, "amount": a} for i, a in applications],
        "transactions": [{"type": "sale", "amount": sale, "at": "2026-11-27T10:00:00Z", "transaction_id": "9001"}]})


def test_the_accounting_target_keeps_the_money_kept_and_the_applications():
    target = target_for(snapshot())
    assert (target.kind, target.total) == ("payment", D("500.00"))
    assert dict(target.applications) == {"autotask:501": D("500.00")}
    unapplied = target_for(snapshot(applied="0.00", unapplied="500.00", applications=()))
    assert (unapplied.total, dict(unapplied.applications)) == (D("500.00"), {})
    refunded = target_for(snapshot(applied="300.00", refund="200.00", applications=(("autotask:502", "300.00"),)))
    assert (refunded.total, refunded.lines({"autotask:502": "88"})) == (D("500.00"), {"88": D("300.00")})
    assert target_for(snapshot(status="cancelled")).kind == "void"
    assert target_for(snapshot(status="charged_back")).kind == "void"
    assert target_for(snapshot(status="failed")).kind == "none"
    assert live_applications(snapshot(status="cancelled")) == {}


def test_lines_leave_unapplied_what_accounting_does_not_know():
    target = target_for(snapshot(applications=(("autotask:501", "300.00"), ("upstream:9", "200.00"))))
    assert target.lines({"autotask:501": "70"}) == {"70": D("300.00")}


def test_a_reversed_payment_is_never_revived_by_a_late_snapshot():
    assert not accepts("cancelled", "succeeded")
    assert accepts("cancelled", "charged_back")
    assert accepts("succeeded", "cancelled")
    assert accepts(None, "succeeded")
    assert latest_in_order(None, [snapshot(status="cancelled"), snapshot()]).status == "cancelled"
    assert latest_in_order("cancelled", [snapshot()]) is None
    assert latest_in_order("cancelled", [snapshot(), snapshot(status="charged_back")]).status == "charged_back"


def test_snapshots_are_taken_in_arrival_order_not_by_the_senders_clock():
    now = datetime(2026, 11, 27, 11, tzinfo=UTC)
    # a cancel sent by a payments replica whose clock is 5 minutes behind: still the later snapshot
    arrived = [(now, snapshot()), (now - timedelta(minutes=5), snapshot(status="cancelled")),
               (now, snapshot(payment_id="p2"))]
    grouped = by_payment(arrived)
    assert list(grouped) == ["p1", "p2"]
    assert latest_in_order("succeeded", [s for _, s in grouped["p1"]]).status == "cancelled"
    unapplied = snapshot(applied="0.00", unapplied="500.00", applications=())
    assert latest_in_order(None, [unapplied, snapshot()]) == snapshot()
    assert latest_in_order(None, [snapshot(), unapplied]) == unapplied


def test_a_reversed_payment_is_recorded_as_it_last_stood_before_it_is_voided():
    # as payments publishes it: every amount 0.00, no applications, the sale row kept for audit
    cancelled = snapshot().model_copy(update={"status": "cancelled", "sale_amount": D("0.00"),
                                              "applied_amount": D("0.00"), "applications": []})
    # the succeeded snapshot is remembered even when the cancel follows it in the same batch
    assert newest_live(None, [snapshot(), cancelled]) == snapshot()
    assert newest_live("cancelled", [snapshot()]) is None  # a late "succeeded" never counts
    assert newest_live(None, [cancelled]) is None
    # recorded unapplied: its invoice may have been paid by another payment since the reversal, and lines on
    # it would be refused by accounting for ever (found by the chaos harness)
    recorded = as_recorded(cancelled, snapshot())
    assert (recorded.kind, recorded.total, dict(recorded.applications)) == ("payment", D("500.00"), {})
    # without the succeeded snapshot: a cancelled one keeps its sale row, a charged-back one its amounts
    assert (as_recorded(cancelled, None).total, dict(as_recorded(cancelled, None).applications)) == (D("500.00"), {})
    charged_back = as_recorded(snapshot(status="charged_back"), None)
    assert (charged_back.total, dict(charged_back.applications)) == (D("500.00"), {})
    # never succeeded: no sale row, nothing charged, nothing recorded
    failed = snapshot(status="failed", sale="0.00", applied="0.00", applications=()).model_copy(
        update={"transactions": [], "transaction_id": None})
    assert as_recorded(failed, None) is None


def test_an_accounting_payment_matches_when_total_and_lines_agree():
    current = {"TotalAmt": 500.0, "Line": [{"Amount": 500.0, "LinkedTxn": [{"TxnId": "70", "TxnType": "Invoice"}]}]}
    target = target_for(snapshot())
    assert payment_matches(current, target, {"70": D("500.00")})
    assert not payment_matches(current, target, {"71": D("500.00")})
    assert not payment_matches({**current, "TotalAmt": 300.0}, target, {"70": D("500.00")})


@given(total=st.integers(1, 10_000), applied=st.integers(0, 20_000), written=st.booleans())
def test_psa_paid_dates_follow_whether_our_payments_cover_the_total(total, applied, written):
    current = {"i": TODAY if written else None}
    changes = paid_dates({"i": D(total)}, {"i": D(applied)}, current, TODAY)
    covered = applied >= total
    assert changes == ({} if covered == written else {"i": TODAY if covered else None})


# -- directory, quotes -------------------------------------------------------------------------------
def test_the_default_contact_is_accountings_then_billing_then_primary():
    contacts = [ContactChoice("autotask:1", "p@x.test", True, True, False),
                ContactChoice("autotask:2", "b@x.test", True, False, True),
                ContactChoice("autotask:3", "AP@x.test", True, False, False),
                ContactChoice("autotask:4", "b2@x.test", False, False, True)]
    assert default_contact(contacts, "ap@x.test ") == "autotask:3"
    assert default_contact(contacts, None) == "autotask:2"
    assert default_contact(contacts[:1], "nobody@x.test") == "autotask:1"
    assert default_contact(contacts[3:], None) is None


def test_quote_urls_come_from_the_mapped_user_defined_field():
    fields = [{"name": "Quote URL", "value": " https://q.example/1 "}, {"name": "Other", "value": "x"}]
    assert quote_url(fields, "quote url") == "https://q.example/1"
    assert quote_url([{"name": "Quote URL", "value": "  "}], "Quote URL") is None
    assert quote_url(fields, None) is None
    assert is_open(1) and not is_open(2)


# -- runs, integrations --------------------------------------------------------------------------------
def test_first_run_full_then_incremental_from_the_watermarks_minus_the_overlap():
    assert choose_mode(False, "incremental") == "full"
    assert choose_mode(True) == "incremental"
    seen = datetime(2026, 11, 27, 10, tzinfo=UTC)
    since = plan_since("incremental", {"contacts": Watermark(seen), "invoices": Watermark(None, 5_000_123)},
                       timedelta(minutes=5))
    assert since == {"contacts": (seen - timedelta(minutes=5)).isoformat(), "invoices_after_id": 5_000_123}
    assert plan_since("full", {"contacts": Watermark(seen)}, timedelta(minutes=5)) == {}
    assert is_due(None, 60, seen) and not is_due(seen, 60, seen + timedelta(minutes=59))


def test_progress_checkpoints_and_watermarks_never_go_back():
    t1, t2 = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
    progress = advance({}, "contacts", fetched=500, last_id=1500, changed_at=t2, total=1200)
    progress = advance(progress, "contacts", fetched=200, last_id=1700, changed_at=t1)
    assert progress["contacts"]["fetched"] == 700 and progress["contacts"]["after_id"] == 1700
    started = datetime(2026, 11, 3, tzinfo=UTC)
    marks = watermarks_after({**progress, "contracts": {"fetched": 0}}, {"contacts": Watermark(t1, None)}, started)
    assert marks["contacts"] == Watermark(t2, 1700)
    assert marks["contracts"] == Watermark(started, None)  # nothing seen: from this run's start


def test_a_watermark_is_never_later_than_the_runs_start():
    # a row changed while the run was going (after its page was read) must be read again next time
    started = datetime(2026, 11, 3, 10, tzinfo=UTC)
    during = advance({}, "contacts", fetched=1, last_id=7, changed_at=started + timedelta(minutes=40))
    marks = watermarks_after(during, {"contacts": Watermark(started - timedelta(hours=1))}, started)
    assert marks["contacts"] == Watermark(started, 7)
    before = advance({}, "contacts", fetched=1, last_id=7, changed_at=started - timedelta(minutes=1))
    assert watermarks_after(before, {}, started)["contacts"].changed_at == started - timedelta(minutes=1)
    since = plan_since("incremental", marks, timedelta(minutes=5))
    assert since["contacts"] == (started - timedelta(minutes=5)).isoformat()


def test_the_token_url_is_intuits_for_the_real_api_and_the_simulators_otherwise():
    assert token_url_for("https://quickbooks.api.intuit.com") == INTUIT_TOKEN_URL
    assert token_url_for("http://127.0.0.1:9102/") == "http://127.0.0.1:9102/oauth2/v1/tokens/bearer"
    assert image_sources(["accounting", "psa"]) == ("accounting", "psa")
    with pytest.raises(ValueError):
        image_sources(["psa", "psa"])


def test_records_are_frozen():
    record = compose(acct=link())
    with pytest.raises(Exception):
        record.status = "paid"  # type: ignore[misc]
    assert replace(record, status="paid").status == "paid"


def test_each_refund_row_is_a_refund_receipt_while_it_stands():
    from billing_sync.domain.writeback import refund_marker, refunds_for
    rows = [{"type": "refund", "amount": "200.00", "at": "2026-11-27T11:00:00Z"},
            {"type": "refund", "amount": "100.00", "at": "2026-11-28T11:00:00Z", "failure_reason": "returned"}]
    refunded = snapshot(applied="200.00", refund="300.00", applications=(("autotask:501", "200.00"),))
    refunded = refunded.model_copy(update={"transactions": [*refunded.transactions,
                                                            *(TransactionRow.model_validate(r) for r in rows)]})
    assert [(r.number, r.amount, r.stands) for r in refunds_for(refunded)] == [(1, D("200.00"), True),
                                                                             (2, D("100.00"), False)]
    cancelled = refunded.model_copy(update={"status": "cancelled"})
    assert [r.stands for r in refunds_for(cancelled)] == [False, False]  # the ledger shows refund 0.00
    assert refunds_for(snapshot()) == []
    assert refund_marker("p1", 1) not in refund_marker("p10", 1) + refund_marker("p1", 10)


def test_a_changed_total_is_followed_only_while_accounting_carries_no_payment():
    from billing_sync.domain.total_changes import total_change
    assert total_change(D("650.00"), D("500.00"), D("500.00")) == "update"
    assert total_change(D("350.00"), D("300.00"), D("200.00")) == "refuse"
    assert total_change(D("350.00"), D("300.00"), D("0.00")) == "refuse"  # paid elsewhere in full
    assert total_change(D("300.00"), D("300.00"), D("200.00")) == "none"
    assert total_change(D("650.00"), D("500.00"), D("500.00"), created_by_us=False) == "refuse"  # by number
    # our payment, not yet written to accounting, carries it as much as a written one
    assert total_change(D("650.00"), D("500.00"), D("500.00"), ours_applied=D("500.00")) == "refuse"
