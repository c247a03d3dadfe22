"""Every service error code of CONTRACT.md as a sentence a person understands."""
from __future__ import annotations

SENTENCES = {
    "invalid_request": "Some of what was entered is not valid. Check the fields and try again.",
    "unauthorized": "Your sign-in has ended. Sign in again.",
    "forbidden": "Your role does not allow this.",
    "not_found": "That was not found.",
    "invoice_already_paid": "This invoice is already paid.",
    "invoice_not_payable": "This invoice cannot be paid yet: it has no accounting number, or it was voided.",
    "payment_in_progress": "A payment for this invoice is already in progress. Wait a moment and check again.",
    "amount_exceeds_balance": "The amount is more than the invoice's balance.",
    "payment_type_not_enabled": "This payment type is not enabled here.",
    "environment_not_enabled": "Payments are not accepted here.",
    "processing_inactive": "Payment processing is not active. An administrator can turn it on.",
    "raw_card_data_rejected": "Card and account numbers are never accepted here: use the secure card fields.",
    "card_declined": "The card was declined.",
    "gateway_unavailable": "The payment gateway could not be reached. Nothing was charged; try again.",
    "idempotency_key_reused": "This form was already used for another payment. Start the payment again.",
    "target_balance_exceeds_unapplied": "The invoice's balance is more than the unapplied amount of this payment.",
    "nothing_unapplied": "This payment has no unapplied money.",
    "currency_locked": "The currency cannot be changed once it is set.",
    "contact_not_in_organization": "That contact does not belong to the invoice's organization.",
    "currency_mismatch": "The invoice's currency differs from the payment processing currency.",
}


def sentence(code: str, message: str = "") -> str:
    """The sentence for a code; the service's own message for codes we do not know."""
    return SENTENCES.get(code) or (message[:1].upper() + message[1:] if message else "Something went wrong.")
