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
