"""A numbered PSA invoice whose total changed after accounting numbered it. No I/O.

Accounting's invoice follows the PSA's total only while it carries no payment (its balance is its
total): money already applied there was taken against the total the client was sent, so changing it
under those payments would rewrite what they paid for. Then the change is refused and staff decide.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

from billing_shared.money import ZERO

ENTITY = "invoice_totals"  # the entity named by `sync.record_failed` when a change is refused


def total_change(psa_total: Decimal, accounting_total: Decimal, accounting_balance: Decimal,
                 created_by_us: bool = True, ours_applied: Decimal = ZERO) -> Literal["none", "update", "refuse"]:
    """`created_by_us`: sync created the accounting invoice (its marker names this invoice). One linked by
    its number was made by someone else (an accountant carrying open invoices into new books may have
    carried only what was left to pay): its lines are never rewritten. `ours_applied`: what our own
    payments apply to it, written to accounting or about to be (a payment not yet written carries the
    invoice as much as one that is)."""
    if psa_total == accounting_total:
        return "none"
    unpaid = accounting_balance == accounting_total and ours_applied == 0
    return "update" if created_by_us and unpaid else "refuse"


def refusal(external_id: int, number: str | None, accounting_total: Decimal, psa_total: Decimal,
            accounting_balance: Decimal, created_by_us: bool = True, ours_applied: Decimal = ZERO) -> str:
    paid = max(accounting_total - accounting_balance, ours_applied)
    held = (f"QuickBooks holds {accounting_total} with {paid} already paid on it" if created_by_us
            else f"QuickBooks holds {accounting_total} on an invoice billing-link did not create")
    return (f"Autotask invoice {external_id} (number {number or '-'}) now totals {psa_total}, but {held}; the "
            "QuickBooks invoice was kept as it is: change it there (or credit the difference) by hand")
