"""Invoices as sync mirrors them: records, the version rule, and the snapshot other services see."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from billing_shared.events.invoices import InvoiceSnapshot, InvoiceStatus
from billing_shared.events.upstream import InvoiceUpsertedData, UpstreamInvoiceVoidedData
from billing_shared.ids import make_id

from billing_sync.domain.psa import PsaInvoice


@dataclass(frozen=True)
class InvoiceRecord:
    invoice_id: str
    organization_id: str
    source: str
    external_id: str
    version: int
    invoice_number: str | None
    status: InvoiceStatus
    currency: str
    total: Decimal
    issued_on: date
    due_on: date | None
    paid_on: date | None
    pdf_url: str | None
    lines: tuple[dict[str, Any], ...] = ()

    def snapshot(self) -> InvoiceSnapshot:
        return InvoiceSnapshot(
            invoice_id=self.invoice_id, organization_id=self.organization_id, invoice_number=self.invoice_number,
            status=self.status, currency=self.currency, total=self.total, issued_on=self.issued_on,  # type: ignore[arg-type]
            due_on=self.due_on, paid_on=self.paid_on, pdf_url=self.pdf_url, source_version=self.version,
        )

    def voided(self, version: int) -> InvoiceRecord:
        return replace(self, status="voided", version=version)


@dataclass(frozen=True)
class VoidRequest:
    invoice_id: str
    version: int


def from_upstream(data: InvoiceUpsertedData) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=make_id(data.source, data.external_id),
        organization_id=make_id(data.source, data.organization.external_id),
        source=data.source, external_id=data.external_id, version=data.version,
        invoice_number=data.invoice_number or None,
        status="paid" if data.paid_on else "open",
        currency=data.currency, total=data.total, issued_on=data.issued_on, due_on=data.due_on,
        paid_on=data.paid_on, pdf_url=data.pdf_url,
        lines=tuple(line.model_dump(mode="json") for line in data.lines),
    )


T = TypeVar("T", InvoiceRecord, VoidRequest)


def void_from_upstream(data: UpstreamInvoiceVoidedData) -> VoidRequest:
    return VoidRequest(make_id(data.source, data.external_id), data.version)


def newest_per_invoice(items: Iterable[T]) -> list[T]:
    """Within one batch keep only the highest version of each invoice (the version rule, applied early)."""
    newest: dict[str, T] = {}
    for item in items:
        kept = newest.get(item.invoice_id)
        if kept is None or item.version > kept.version:
            newest[item.invoice_id] = item
    return list(newest.values())


@dataclass(frozen=True)
class AccountingLink:
    """The accounting invoice a PSA invoice is linked to, as last read."""

    accounting_id: str
    doc_number: str | None
    currency: str | None
    total: Decimal
    balance: Decimal
    paid_elsewhere_on: date | None = None


def paid_elsewhere(link: AccountingLink | None, ours: Decimal) -> bool:
    """Paid, at least partly, by other means: the accounting balance is 0 and the payments sync wrote
    for our own payments (`ours`, applied to this invoice) do not account for all of it.

    Our own payments alone never make an invoice `paid` here: payments' ledger decides that, and a
    cancel there must not be overridden. When our share of a mixed invoice is cancelled, its
    accounting payment is voided, the balance leaves 0 and the invoice is `open` again."""
    return link is not None and link.balance == 0 and link.total - ours > 0


def paid_in_psa(psa: PsaInvoice, ours: Decimal, ours_paid_on: date | None) -> bool:
    """The PSA shows a paid date that sync did not write for our own payments: paid by other means.

    `ours_paid_on` is the last paid date sync wrote on this PSA invoice (kept after it clears it
    again, so that a mirror read before the clear is not taken for a payment elsewhere); a PSA paid
    date while our live payments cover the invoice is ours too (written, not yet recorded)."""
    return psa.paid_on is not None and psa.paid_on != ours_paid_on and ours < psa.total


def voided_in_accounting(psa: PsaInvoice, link: AccountingLink | None) -> bool:
    """Accounting voids an invoice by zeroing it: nothing is left to pay there."""
    return link is not None and link.total == 0 and psa.total > 0


def compose_psa_record(
    psa: PsaInvoice, link: AccountingLink | None, ours: Decimal, *, numbered_by_accounting: bool,
    default_currency: str, today: date, lines: tuple[dict[str, Any], ...] = (),
    ours_paid_on: date | None = None,
) -> InvoiceRecord:
    """The snapshot of a PSA invoice (version 0: `next_version` decides the real one).

    The number is accounting's DocNumber when accounting is integrated (an invoice without a link has
    none, so it is not payable); without an accounting integration it is the PSA's own number.
    `paid` means paid by other means: in accounting (balance 0, not all of it ours) or in the PSA (a
    paid date sync did not write, `ours_paid_on` being the last one it wrote)."""
    number = (link.doc_number if link else None) if numbered_by_accounting else psa.invoice_number
    status: InvoiceStatus = "open"
    paid_on = None
    if psa.voided or voided_in_accounting(psa, link):
        status = "voided"
    elif paid_elsewhere(link, ours):
        status, paid_on = "paid", (link.paid_elsewhere_on if link and link.paid_elsewhere_on else today)
    elif paid_in_psa(psa, ours, ours_paid_on):
        status, paid_on = "paid", psa.paid_on
    return InvoiceRecord(
        invoice_id=psa.invoice_id, organization_id=psa.organization_id, source="autotask",
        external_id=str(psa.external_id), version=0, invoice_number=number, status=status,
        currency=(link.currency if link and link.currency else default_currency), total=psa.total,
        issued_on=psa.issued_on, due_on=psa.due_on, paid_on=paid_on, pdf_url=None, lines=lines,
    )


def _published(record: InvoiceRecord) -> tuple[Any, ...]:
    return (record.organization_id, record.invoice_number, record.status, record.currency, record.total,
            record.issued_on, record.due_on, record.paid_on, record.pdf_url)


def next_version(stored: InvoiceRecord | None, fresh: InvoiceRecord) -> InvoiceRecord | None:
    """For records sync composes itself: stored version + 1 when anything it publishes changed, None
    when nothing did (so snapshots stay ordered and an unchanged invoice is not published again), and
    None for a new open invoice that has no number yet."""
    if stored is None:
        # An open invoice without a number is not payable yet: it is first published once numbered.
        return replace(fresh, version=1) if fresh.invoice_number or fresh.status != "open" else None
    if _published(stored) == _published(fresh):
        return None
    lines = fresh.lines or stored.lines
    return replace(fresh, version=stored.version + 1, lines=lines)
