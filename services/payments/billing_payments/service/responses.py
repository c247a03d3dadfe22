"""The bodies POST /v1/payments answers (and replays under its Idempotency-Key)."""
from __future__ import annotations

from typing import Any

from billing_payments.domain.payment import Payment


def payment_body(p: Payment) -> dict[str, Any]:
    return p.snapshot().model_dump(mode="json")


def declined_body(p: Payment) -> dict[str, Any]:
    return {"error": {
        "code": "card_declined",
        "message": f"the payment was declined: {p.failure_reason}",
        "details": {"payment_id": p.payment_id, "reason": p.failure_reason, "payment": payment_body(p)},
    }}


def final_response(p: Payment) -> tuple[int, dict[str, Any]]:
    """What the request that created `p` answers once its outcome is known."""
    return (402, declined_body(p)) if p.status == "failed" else (201, payment_body(p))
