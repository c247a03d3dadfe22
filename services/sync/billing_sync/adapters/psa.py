"""What sync asks of the PSA, through THE Autotask client: id-ordered pages from a checkpoint,
counts, invoice lines, written-back invoice fields, the invoice PDF."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from billing_shared.psa import AutotaskClient, F, Filter

PAGE = 500  # the most Autotask serves per page [C]
# Invoice fields sync reads (fewer bytes per page than every field).
INVOICE_FIELDS = ("id", "companyID", "invoiceNumber", "invoiceTotal", "invoiceDateTime", "createDateTime",
                  "dueDate", "isVoided", "voidedDate", "paidDate")


class PsaSource:
    def __init__(self, client: AutotaskClient) -> None:
        self.client = client

    async def pages(self, entity: str, filters: Sequence[Filter], after_id: int | None,
                    include_fields: Sequence[str] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Matching rows in id order after `after_id`, in chunks of one API page."""
        query = [*filters, F.gt("id", after_id or 0)]
        chunk: list[dict[str, Any]] = []
        async for row in self.client.query(entity, query, include_fields=include_fields, page_size=PAGE):
            chunk.append(row)
            if len(chunk) == PAGE:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    async def count(self, entity: str, filters: Sequence[Filter]) -> int:
        return await self.client.count(entity, [*filters, F.gt("id", 0)])

    async def billing_items(self, invoice_external_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """Invoice lines (BillingItems where invoiceID in ...), grouped by invoice [C: AT-INV]."""
        lines: dict[int, list[dict[str, Any]]] = {}
        for start in range(0, len(invoice_external_ids), PAGE):
            ids = list(invoice_external_ids[start:start + PAGE])
            async for row in self.client.query("BillingItems", [F.in_("invoiceID", ids)], page_size=PAGE):
                lines.setdefault(int(row["invoiceID"]), []).append(row)
        return lines

    async def write_invoice(self, external_id: int, fields: dict[str, Any]) -> None:
        """PATCH invoiceNumber / paidDate (null clears); sending the same values twice is harmless."""
        await self.client.update("Invoices", external_id, fields)

    async def invoice_pdf(self, external_id: int) -> bytes | None:
        return await self.client.invoice_pdf(external_id)

    async def check(self) -> None:
        """Zone lookup and one authenticated call: what a connection test needs."""
        await self.client.zone(refresh=True)
        await self.client.threshold_information()
