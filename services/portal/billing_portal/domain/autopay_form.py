"""The autopay form (a stored method, a rule, a maximum per invoice) and autopay's attempts in plain words
(no I/O). Payments checks the body again; this only turns what was typed into its request, or says which
field is wrong."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_DAYS_AFTER_ISSUE = 90  # payments' limit (domain/autopay.py there)
RULES = (("on_due_date", "On the due date"), ("days_after_issue", "N days after the invoice date"))

# An attempt's status and why it was skipped, for people (the codes are payments').
STATUS_WORDS = {
    "scheduled": "Retry scheduled", "checking": "Checking the balance", "charging": "Charging",
    "succeeded": "Paid", "failed": "Declined, will retry", "gave_up": "Declined, no more retries",
    "skipped": "Skipped",
}
SKIP_WORDS = {
    "paid_elsewhere": "The invoice was already paid by other means.",
    "voided": "The invoice was voided.",
    "over_maximum": "The balance was above the maximum per invoice.",
    "not_payable": "The invoice could not be paid here at that moment.",
    "method_removed": "The payment method was removed from the wallet.",
    "not_enrolled": "Autopay was turned off or changed before the charge.",
}


@dataclass
class Parsed:
    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def request_body(form: Mapping[str, str], *, staff: bool) -> Parsed:
    """PUT /v1/organizations/{id}/autopay's body from the posted form, or the fields' errors."""
    out = Parsed()
    method_id = form.get("method_id", "").strip()
    if not method_id:
        out.errors["method_id"] = "Choose a stored payment method."
    else:
        out.body["method_id"] = method_id
    kind = form.get("rule", "")
    if kind == "on_due_date":
        out.body["rule"] = {"kind": kind}
    elif kind == "days_after_issue":
        days = form.get("days", "").strip()
        if not days.isdigit() or int(days) > MAX_DAYS_AFTER_ISSUE:
            out.errors["days"] = f"Enter a whole number of days from 0 to {MAX_DAYS_AFTER_ISSUE}."
        else:
            out.body["rule"] = {"kind": kind, "days": int(days)}
    else:
        out.errors["rule"] = "Choose when invoices are charged."
    maximum = _amount(form.get("max_amount", ""))
    if maximum is None:
        out.errors["max_amount"] = "Enter an amount above 0.00, with at most two decimals."
    else:
        out.body["max_amount"] = maximum
    contact_id = form.get("contact_id", "").strip()
    if staff and contact_id:  # a client's autopay always pays as the client itself
        out.body["contact_id"] = contact_id
    return out


def _amount(text: str) -> str | None:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        return None
    return f"{value:.2f}"


def rule_words(rule: Mapping[str, Any]) -> str:
    if rule.get("kind") == "days_after_issue":
        days = rule.get("days")
        return f"{days} day{'s' if days != 1 else ''} after the invoice date"
    return "On the due date"


def shown(enrollment: Mapping[str, Any] | None, form: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the form shows: what was typed (after a refusal), else the enrollment, else the defaults."""
    if form is not None:
        return {k: form.get(k, "") for k in ("method_id", "rule", "days", "max_amount", "contact_id")}
    if enrollment is None:
        return {"method_id": "", "rule": "on_due_date", "days": "", "max_amount": "", "contact_id": ""}
    rule = enrollment["rule"]
    return {"method_id": enrollment["method"]["method_id"], "rule": rule["kind"],
            "days": "" if rule.get("days") is None else str(rule["days"]), "max_amount": str(enrollment["max_amount"]),
            "contact_id": enrollment.get("contact_id") or ""}


def method_words(method: Mapping[str, Any]) -> str:
    if method.get("type") == "removed":
        return "A method since removed from the wallet"
    name = "eCheck account" if method.get("type") == "echeck" else (method.get("brand") or "card").title()
    return f"{name} ending {method['last4']}" if method.get("last4") else name


def attempt_reason(attempt: Mapping[str, Any]) -> str:
    """Why an attempt was skipped or declined, as a sentence; empty for one that went through or is under way."""
    if attempt.get("status") == "skipped":
        return SKIP_WORDS.get(attempt.get("skip_reason") or "", "It was not charged.")
    if attempt.get("status") in ("failed", "gave_up"):
        reason = attempt.get("reason") or "the payment was declined"
        return f"Declined: {reason}."
    return ""
