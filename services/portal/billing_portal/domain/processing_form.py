"""The payment processing settings form: what the page shows and how a posted form becomes a PUT."""
from __future__ import annotations

from typing import Any

CURRENCIES = ("USD", "CAD", "AUD", "NZD", "EUR", "GBP")
ENVIRONMENTS = (("autotask", "Autotask"), ("client_portal", "Client Portal"))
METHOD_TYPES = (("credit_card", "Credit Card"), ("echeck", "eCheck"))


def request_body(form: dict[str, list[str]], *, currency_locked: bool) -> dict[str, Any]:
    """Checkboxes left unticked are absent from a form: every list is sent whole. Blank keys keep the
    stored ones; a locked currency is not sent at all."""
    def one(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    body: dict[str, Any] = {
        "active": one("active") == "on",
        "accept_payments_in": [e for e, _ in ENVIRONMENTS if e in form.get("accept_payments_in", [])],
        "payment_types": {e: [t for t, _ in METHOD_TYPES if t in form.get(f"payment_types_{e}", [])]
                          for e, _ in ENVIRONMENTS},
        "refund_via_gateway": one("refund_via_gateway") == "on",
        "auto_cancel_unsettled": one("auto_cancel_unsettled") == "on",
    }
    for key in ("public_key", "private_key"):
        if one(key):
            body[key] = one(key)
    if not currency_locked and one("currency"):
        body["currency"] = one("currency")
    return body


def shown(body: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """What the form shows after a refusal: what was typed, keys never echoed."""
    kept = {k: v for k, v in body.items() if k not in ("public_key", "private_key")}
    return {**stored, **kept, "public_key": stored.get("public_key"), "private_key": stored.get("private_key")}
