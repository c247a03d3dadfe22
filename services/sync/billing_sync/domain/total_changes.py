"""A numbered PSA invoice whose total changed after accounting numbered it. No I/O.

Accounting's invoice follows the PSA's total only while it carries no payment (its balance is its
total): money already applied there was taken against the total the client was sent, so changing it
under those payments would rewrite what they paid for. Then the change is refused and staff decide.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Literal

ENTITY = "invoice_totals"  # the entity named by `sync.record_failed` when a change is refused


def total_change(psa_total: Decimal, accounting_total: Decimal, accounting_balance: Decimal,
                 ours: bool = True) -> Literal["none", "update", "refuse"]:
    """`ours`: sync created the accounting invoice (its marker names this invoice). One linked by its
    number was made by someone else (an accountant carrying open invoices into new books may have
    carried only what was left to pay): its lines are never rewritten."""
    if psa_total == accounting_total:
        return "none"
    return "update" if ours and accounting_balance == accounting_total else "refuse"


def refusal(external_id: int, number: str | None, accounting_total: Decimal, psa_total: Decimal,
            accounting_balance: Decimal, ours: bool = True) -> str:
    held = (f"QuickBooks holds {accounting_total} with {accounting_total - accounting_balance} already paid on it"
            if ours else f"QuickBooks holds {accounting_total} on an invoice billing-link did not create")
    return (f"Autotask invoice {external_id} (number {number or '-'}) now totals {psa_total}, but {held}; the "
            "QuickBooks invoice was kept as it is: change it there (or credit the difference) by hand")
