"""Every way a payments request can be refused: a CONTRACT.md error code and its HTTP status."""
from __future__ import annotations

from typing import Any

STATUS_OF: dict[str, int] = {
    "invalid_request": 422,
    "not_found": 404,
    "forbidden": 403,
    "invoice_already_paid": 409,
    "invoice_not_payable": 409,
    "payment_in_progress": 409,
    "amount_exceeds_balance": 422,
    "payment_type_not_enabled": 422,
    "environment_not_enabled": 422,
    "processing_inactive": 409,
    "raw_card_data_rejected": 422,
    "card_declined": 402,
    "gateway_unavailable": 503,
    "idempotency_key_reused": 422,
    "target_balance_exceeds_unapplied": 422,
    "nothing_unapplied": 409,
    "currency_locked": 409,
    "invalid_signature": 401,
    "contact_not_in_organization": 422,
    "currency_mismatch": 422,
    # beyond the contract's list: a command that the payment's state does not allow
    "payment_state_conflict": 409,
    # reconciliation: a drift that no safe repair clears (explain it), or one already explained or repaired
    "drift_not_repairable": 409,
    "drift_resolved": 409,
}


class PaymentError(Exception):
    def __init__(self, code: str, message: str, **details: Any) -> None:
        assert code in STATUS_OF, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return STATUS_OF[self.code]
