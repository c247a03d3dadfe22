"""Every event type of every topic survives a JSON round trip unchanged (hypothesis)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from billing_shared.events import EVENTS_BY_TOPIC, parse_event
from billing_shared.events.catalog import BILLING_INVOICES, BILLING_PAYMENTS, UPSTREAM_INVOICES
from billing_shared.money import CENT

money = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False, allow_infinity=False)
# Every Decimal in an event is money or a quantity: generate 2-place amounts for all of them.
st.register_type_strategy(Decimal, money)
# Any text but NUL, which no event may carry (the database cannot store it).
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
               min_size=1, max_size=20)
st.register_type_strategy(str, text)


def _all_types():
    return [(topic, cls) for topic, classes in EVENTS_BY_TOPIC.items() for cls in classes]


@st.composite
def events(draw):
    topic, cls = draw(st.sampled_from(_all_types()))
    event = draw(st.builds(cls, event_type=st.just(cls.TYPE), producer=text, organization_id=text,
                           correlation_id=st.none() | text, schema_version=st.just(1)))
    return topic, event


@settings(max_examples=300, deadline=None)
@given(events())
def test_every_event_round_trips_through_json(case):
    topic, event = case
    raw = event.to_json()
    parsed = parse_event(topic, raw)
    assert type(parsed) is type(event)
    assert parsed == event
    assert parsed.to_json() == raw


@settings(max_examples=100, deadline=None)
@given(events())
def test_money_travels_as_two_place_strings(case):
    _, event = case

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
        else:
            yield value

    assert not any(isinstance(v, float) for v in walk(json.loads(event.to_json())))


def test_the_contract_example_parses_and_keeps_its_amounts():
    raw = json.dumps({
        "event_id": "0b8f5e34-9a43-4e4e-8b5e-2f9d0a1c6a10", "event_type": "invoice.upserted", "schema_version": 1,
        "occurred_at": "2026-11-27T10:00:00Z", "producer": "psa-relay", "organization_id": "autotask:678",
        "correlation_id": None,
        "data": {"source": "autotask", "external_id": "12345", "version": 3,
                 "organization": {"external_id": "678", "name": "Acme Dental"}, "invoice_number": "1042",
                 "issued_on": "2026-11-01", "due_on": "2026-12-01", "currency": "USD", "total": "500.00",
                 "paid_on": None, "pdf_url": None,
                 "lines": [{"description": "Managed services", "quantity": "1", "unit_price": "500.00",
                            "amount": "500.00"}]},
        "unknown_field_from_a_newer_producer": True,
    }).encode()
    event = parse_event(UPSTREAM_INVOICES, raw)
    assert event.data.total == Decimal("500.00") and event.data.total.as_tuple().exponent == CENT.as_tuple().exponent
    out = json.loads(event.to_json())
    assert out["occurred_at"] == "2026-11-27T10:00:00Z"
    assert out["data"]["total"] == "500.00" and out["data"]["lines"][0]["unit_price"] == "500.00"


@pytest.mark.parametrize("event_type", ["payment.succeeded", "no.such.type"])
def test_an_event_type_that_does_not_belong_to_the_topic_is_rejected(event_type):
    raw = json.dumps({"event_id": "0b8f5e34-9a43-4e4e-8b5e-2f9d0a1c6a10", "event_type": event_type,
                      "occurred_at": "2026-11-27T10:00:00Z", "producer": "x", "organization_id": "o",
                      "data": {}}).encode()
    with pytest.raises(ValidationError):
        parse_event(UPSTREAM_INVOICES, raw)


def _upserted(**data_changes) -> dict:
    return {"event_id": "0b8f5e34-9a43-4e4e-8b5e-2f9d0a1c6a10", "event_type": "invoice.upserted",
            "occurred_at": "2026-11-27T10:00:00Z", "producer": "x", "organization_id": "autotask:678",
            "data": {"source": "autotask", "external_id": "1", "version": 1,
                     "organization": {"external_id": "678", "name": "Acme"}, "issued_on": "2026-11-01",
                     "currency": "USD", "total": "5.00", **data_changes}}


@pytest.mark.parametrize("changes", [{"organization": {"external_id": "678", "name": "Ac\u0000me"}},
                                     {"total": "1e30"}, {"total": "NaN"}, {"version": 10**30},
                                     {"lines": [{"description": "d", "quantity": "1e999999", "unit_price": "1.00",
                                                 "amount": "1.00"}]}])
def test_events_the_database_could_not_store_are_refused_as_invalid(changes):
    with pytest.raises(ValueError):  # pydantic's ValidationError is one too: the runner dead-letters both
        parse_event(UPSTREAM_INVOICES, json.dumps(_upserted(**changes)).encode())


def test_a_backslash_before_u0000_in_text_is_not_a_nul():
    event = parse_event(UPSTREAM_INVOICES, json.dumps(_upserted(invoice_number="a\\u0000b")).encode())
    assert event.data.invoice_number == "a\\u0000b"


# Found by tests/fuzz/test_topic_fuzz.py: events of another schema version, and negative amounts where the
# ledger's rules allow none, were taken as valid (a negative invoice total reached notifications' copy and failed
# payments' CHECK only after retries; a negative payment snapshot would have reached the accounting writeback).
@pytest.mark.parametrize("version", [0, 2, -1, 10**30])
def test_an_event_of_another_schema_version_is_refused(version):
    with pytest.raises(ValidationError, match="schema_version"):
        parse_event(UPSTREAM_INVOICES, json.dumps({**_upserted(), "schema_version": version}).encode())


def _invoice_snapshot(total: str) -> bytes:
    return json.dumps({
        "event_id": "0b8f5e34-9a43-4e4e-8b5e-2f9d0a1c6a10", "event_type": "invoice.synced", "schema_version": 1,
        "occurred_at": "2026-11-27T10:00:00Z", "producer": "sync", "organization_id": "autotask:678",
        "data": {"invoice_id": "autotask:1", "organization_id": "autotask:678", "invoice_number": None,
                 "status": "open", "currency": "USD", "total": total, "issued_on": "2026-11-01", "due_on": None,
                 "paid_on": None, "pdf_url": None, "source_version": 3}}).encode()


def _payment_snapshot(**changes) -> bytes:
    data = {"payment_id": "p1", "transaction_id": "t1", "order_id": "o1", "organization_id": "autotask:678",
            "contact_id": None, "environment": "autotask", "method": {"type": "credit_card"}, "currency": "USD",
            "status": "succeeded", "sale_amount": "5.00", "applied_amount": "5.00", "unapplied_amount": "0.00",
            "refund_amount": "0.00", "original_amount": "5.00",
            "applications": [{"invoice_id": "autotask:1", "amount": "5.00"}],
            "transactions": [{"type": "sale", "amount": "5.00", "at": "2026-11-27T10:00:00Z"}], **changes}
    return json.dumps({"event_id": "0b8f5e34-9a43-4e4e-8b5e-2f9d0a1c6a10", "event_type": "payment.succeeded",
                       "occurred_at": "2026-11-27T10:00:00Z", "producer": "payments",
                       "organization_id": "autotask:678", "data": data}).encode()


def test_an_invoice_snapshot_with_a_negative_total_is_refused():
    assert parse_event(BILLING_INVOICES, _invoice_snapshot("0.00")).data.total == 0
    with pytest.raises(ValidationError, match="total"):
        parse_event(BILLING_INVOICES, _invoice_snapshot("-5.00"))


@pytest.mark.parametrize("changes", [
    {"sale_amount": "-5.00"}, {"applied_amount": "-0.01"}, {"unapplied_amount": "-1"}, {"refund_amount": "-5.00"},
    {"original_amount": "-5.00"}, {"applications": [{"invoice_id": "autotask:1", "amount": "-5.00"}]},
    {"transactions": [{"type": "refund", "amount": "-5.00", "at": "2026-11-27T10:00:00Z"}]},
])
def test_a_payment_snapshot_with_a_negative_amount_is_refused(changes):
    assert parse_event(BILLING_PAYMENTS, _payment_snapshot()).data.sale_amount == Decimal("5.00")
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        parse_event(BILLING_PAYMENTS, _payment_snapshot(**changes))


# Found by tests/fuzz/test_topic_fuzz.py: a moment that leaves years 1 to 9999 once in UTC passed the parser, then
# every handler that turned it to UTC failed with OverflowError (sync's writeback, notifications' intake) and
# notifications' sync-freshness agent crashed on it and stopped reading billing.sync.v1.
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_moment_out_of_range_in_utc_is_refused(moment):
    with pytest.raises(ValidationError, match="occurred_at"):
        parse_event(UPSTREAM_INVOICES, json.dumps({**_upserted(), "occurred_at": moment}).encode())
    transactions = [{"type": "sale", "amount": "5.00", "at": moment}]
    with pytest.raises(ValidationError, match="within years 1 to 9999"):
        parse_event(BILLING_PAYMENTS, _payment_snapshot(transactions=transactions))
    assert parse_event(UPSTREAM_INVOICES, json.dumps({**_upserted(), "occurred_at": "9999-12-31T23:59:59Z"}).encode())


# Found by tests/fuzz/test_topic_fuzz.py: a 1.1 MB organization_id passed the parser; notifications' sync-freshness
# view then could not write its changelog (MessageSizeTooLargeError) and its agent crashed over and over.
def test_an_organization_id_longer_than_an_id_is_refused():
    with pytest.raises(ValidationError, match="organization_id"):
        parse_event(UPSTREAM_INVOICES, json.dumps({**_upserted(), "organization_id": "x" * 1_100_000}).encode())
    assert parse_event(UPSTREAM_INVOICES, json.dumps({**_upserted(), "organization_id": "x" * 255}).encode())


def test_an_invitation_with_an_id_or_address_too_long_to_store_is_refused():
    """A 5,000-character invitation id passed the parser and then failed notifications' dedupe index on
    every retry (found by the topic fuzzing): ids and texts have the lengths a store can keep."""
    from billing_shared.events.catalog import BILLING_PORTAL
    from billing_shared.events.portal import InvitationData, InvitationSent

    sent = InvitationSent.new(producer="portal", organization_id="autotask:678", data=InvitationData(
        invitation_id="i1", organization_id="autotask:678", contact_id="autotask:901", email="ap@acme.example",
        name="Ada Payer", link="https://portal.msp.example/invitations/abc", invited_by="admin@msp.example",
        expires_at=datetime(2026, 12, 4, tzinfo=UTC)))
    good = json.loads(sent.to_json())
    assert parse_event(BILLING_PORTAL, json.dumps(good).encode()).data.invitation_id == "i1"
    for field, value in (("invitation_id", "i" * 5000), ("contact_id", ""), ("email", "a" * 400 + "@x.example"),
                         ("link", "https://x.example/" + "a" * 3000)):
        with pytest.raises(ValidationError, match=field):
            parse_event(BILLING_PORTAL, json.dumps({**good, "data": {**good["data"], field: value}}).encode())


def test_a_contact_or_organization_too_long_to_store_is_refused():
    """A contact whose 12 kB name or email passed the parser failed the portal's index on every retry
    (found by the topic fuzzing)."""
    from billing_shared.events.catalog import BILLING_DIRECTORY
    from billing_shared.events.directory import ContactData, ContactSynced, OrganizationData, OrganizationSynced

    contact = json.loads(ContactSynced.new(producer="sync", organization_id="autotask:678", data=ContactData(
        contact_id="autotask:901", organization_id="autotask:678", name="Dana Accounts",
        email="ap@acme.example")).to_json())
    organization = json.loads(OrganizationSynced.new(producer="sync", organization_id="autotask:678", data=(
        OrganizationData(organization_id="autotask:678", name="Acme Dental"))).to_json())
    for event, field, value in ((contact, "name", "n" * 12_000), (contact, "email", "e" * 12_000 + "@x.example"),
                                (contact, "contact_id", "c" * 300), (organization, "name", "o" * 12_000),
                                (organization, "default_contact_id", "")):
        assert parse_event(BILLING_DIRECTORY, json.dumps(event).encode())
        with pytest.raises(ValidationError, match=field):
            parse_event(BILLING_DIRECTORY, json.dumps({**event, "data": {**event["data"], field: value}}).encode())
