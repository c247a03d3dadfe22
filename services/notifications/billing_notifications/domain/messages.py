"""What each notification says: the facts that matter, in plain text."""
from __future__ import annotations

from billing_shared.events.invoices import InvoiceSnapshot
from billing_shared.money import format_money


def invoice_available(invoice: InvoiceSnapshot, organization_name: str | None) -> tuple[str, str]:
    """(subject, body) of the message that tells a client an invoice can be paid."""
    who = organization_name or invoice.organization_id
    subject = f"Invoice {invoice.invoice_number} from your IT provider is ready to pay"
    lines = [
        f"Hello {who},",
        "",
        f"Invoice {invoice.invoice_number} for {format_money(invoice.total)} {invoice.currency} is ready.",
        f"Issued on {invoice.issued_on.isoformat()}"
        + (f", due on {invoice.due_on.isoformat()}." if invoice.due_on else "."),
        "You can pay it in the client portal by card or eCheck.",
    ]
    return subject, "\n".join(lines)
