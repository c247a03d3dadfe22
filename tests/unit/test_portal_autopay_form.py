"""The portal's autopay form: what was typed becomes payments' request or says which field is wrong; attempts
and rules in plain words. No I/O."""
from __future__ import annotations

import pytest

from billing_portal.domain.autopay_form import attempt_reason, method_words, request_body, rule_words, shown

pytestmark = pytest.mark.timeout(10)


def test_a_filled_form_becomes_the_request_and_only_staff_name_a_contact():
    form = {"method_id": "m-1", "rule": "days_after_issue", "days": "5", "max_amount": "1,250.5",
            "contact_id": "autotask:901"}
    assert request_body(form, staff=True).body == {
        "method_id": "m-1", "rule": {"kind": "days_after_issue", "days": 5}, "max_amount": "1250.50",
        "contact_id": "autotask:901"}
    client = request_body({**form, "rule": "on_due_date", "days": "x"}, staff=False)
    assert client.errors == {} and client.body == {"method_id": "m-1", "rule": {"kind": "on_due_date"},
                                                   "max_amount": "1250.50"}


@pytest.mark.parametrize(("change", "field"), [
    ({"method_id": " "}, "method_id"), ({"rule": ""}, "rule"), ({"days": "91"}, "days"), ({"days": "-1"}, "days"),
    ({"max_amount": "0"}, "max_amount"), ({"max_amount": "10.001"}, "max_amount"),
    ({"max_amount": "NaN"}, "max_amount"), ({"max_amount": "ten"}, "max_amount")])
def test_each_wrong_field_is_named(change, field):
    form = {"method_id": "m-1", "rule": "days_after_issue", "days": "5", "max_amount": "100", **change}
    assert list(request_body(form, staff=True).errors) == [field]


def test_rules_methods_and_attempts_in_plain_words():
    assert rule_words({"kind": "on_due_date"}) == "On the due date"
    assert rule_words({"kind": "days_after_issue", "days": 1}) == "1 day after the invoice date"
    assert method_words({"type": "credit_card", "brand": "visa", "last4": "1111"}) == "Visa ending 1111"
    assert method_words({"type": "echeck", "last4": "6789"}) == "eCheck account ending 6789"
    assert attempt_reason({"status": "skipped", "skip_reason": "paid_elsewhere"}) == \
        "The invoice was already paid by other means."
    assert attempt_reason({"status": "gave_up", "reason": "card expired"}) == "Declined: card expired."
    assert attempt_reason({"status": "succeeded"}) == ""
    enrolled = {"method": {"method_id": "m-1"}, "rule": {"kind": "days_after_issue", "days": 0},
                "max_amount": "100.00", "contact_id": "autotask:901"}
    assert shown(enrolled)["days"] == "0" and shown(None)["rule"] == "on_due_date"
    assert shown(enrolled, {"max_amount": "-5"})["max_amount"] == "-5"  # a refused form keeps what was typed
