"""The payable view of an invoice: what sync says, combined with what the ledger applied.

Sync reports `paid` only for invoices paid by other means (accounting balance 0 without our payments),
so an invoice is paid here when the ledger's balance reaches 0 or when sync says it was paid elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from billing_shared.money import ZERO


@dataclass(frozen=True)
class PayableInvoice:
    invoice_id: str
    organization_id: str
    invoice_number: str | None
    source_status: str
    currency: str
    total: Decimal
    applied: Decimal
    issued_on: date
    due_on: date | None
    source_paid_on: date | None
    ledger_paid_on: date | None
    pdf_url: str | None
    source_version: int
    in_flight_payment_id: str | None = None  # one payment in flight per invoice

    @property
    def paid_elsewhere(self) -> bool:
        return self.source_status == "paid"

    @property
    def over_applied(self) -> bool:
        """Accounting lowered the total below what our payments apply to it: the difference needs a person
        (unapply or refund); until then the invoice shows balance 0 and cannot be paid."""
        return self.applied > self.total

    @property
    def balance(self) -> Decimal:
        """Never negative: 0 <= applied <= total holds for the ledger's own total (see invoice_store)."""
        if self.paid_elsewhere or self.over_applied:
            return ZERO
        return self.total - self.applied

    @property
    def status(self) -> str:
        if self.source_status == "voided":
            return "voided"
        return "paid" if self.balance == ZERO else "open"

    @property
    def paid_on(self) -> date | None:
        if self.status != "paid":
            return None
        return self.source_paid_on or self.ledger_paid_on

    @property
    def payable(self) -> bool:
        return self.invoice_number is not None and self.status == "open"

    def moved(self, delta: Decimal, today: date) -> PayableInvoice:
        """The invoice after the ledger moves `delta` onto (or off) it: the paid date is set when the
        balance reaches 0 and cleared when it leaves 0 (the SQL in invoice_store does the same)."""
        applied = self.applied + delta
        zero = self.total - applied <= ZERO
        return replace(self, applied=applied, ledger_paid_on=(self.ledger_paid_on or today) if zero else None)
