"""What sync asks of accounting, through THE QuickBooks client: customers, invoices (all, or what
changed), creates that a retry can find again by their marker, payments, the invoice PDF."""
from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing_sync.adapters.quickbooks import (
    CDC_MAX_OBJECTS, InvoiceLine, JournalLine, QuickBooksClient, QuickBooksFault, item_fault, payment_object, quote,
)

PAGE = 1000  # MAXRESULTS at most 1000
BATCH_ITEMS = 30  # QuickBooks: at most 30 operations in one batch request [C: QB-LIM]
CDC_DAYS = 30  # CDC reaches back 30 days at most [C]
MARKER_LOOKBACK = timedelta(days=1)  # our clock and accounting's may differ
REFERENCE_LENGTH = 21  # PaymentRefNum


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class Accounting:
    def __init__(self, client: QuickBooksClient, realm_id: str = "") -> None:
        self.client = client
        self.realm_id = realm_id  # ids name objects within this company only

    async def customers(self) -> list[dict[str, Any]]:
        return [c async for c in self.client.query("SELECT * FROM Customer", page_size=PAGE)]

    async def ensure_customer(self, name: str, currency: str | None = None) -> dict[str, Any]:
        """The customer whose DisplayName is the organization's name; created when missing."""
        found = await self.client.find_customer_by_name(name)
        return found or await self.client.create_customer(name, company_name=name, currency=currency)

    async def invoice_pages(self) -> AsyncIterator[list[dict[str, Any]]]:
        page: list[dict[str, Any]] = []
        async for invoice in self.client.query("SELECT * FROM Invoice", page_size=PAGE):
            page.append(invoice)
            if len(page) == PAGE:
                yield page
                page = []
        if page:
            yield page

    async def changed_invoices(self, since: datetime, now: datetime) -> list[dict[str, Any]] | None:
        """Invoices changed since `since` (change data capture); None when CDC cannot answer for sure
        (too far back, or a saturated answer) and the caller must read every invoice instead."""
        if now - since > timedelta(days=CDC_DAYS - 1):
            return None
        changed = await self.client.cdc(["Invoice"], since)
        invoices = changed.get("Invoice", [])
        if len(invoices) >= CDC_MAX_OBJECTS:
            return None
        return [i for i in invoices if i.get("status") != "Deleted"]

    async def find_by_marker(self, entity: str, customer_id: str, marker: str,
                             since: datetime) -> dict[str, Any] | None:
        """An object we may have created for this customer since `since`, told by its PrivateNote."""
        select = (f"SELECT * FROM {entity} WHERE CustomerRef = {quote(customer_id)} "
                  f"AND MetaData.CreateTime >= {quote(_stamp(since - MARKER_LOOKBACK))}")
        async for found in self.client.query(select, page_size=PAGE):
            if marker in str(found.get("PrivateNote") or ""):
                return found
        return None

    async def create_invoice(self, customer_id: str, lines: Sequence[InvoiceLine], issued: date, due: date,
                             currency: str, note: str) -> dict[str, Any]:
        return await self.client.create_invoice(customer_id, lines, issued, due, currency, private_note=note)

    async def renumber_invoice(self, invoice: Mapping[str, Any], number: str) -> dict[str, Any]:
        return await self.client.update("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"],
                                                    "DocNumber": number})

    async def replace_invoice_lines(self, invoice: Mapping[str, Any], lines: Sequence[InvoiceLine]) -> dict[str, Any]:
        """A sparse update of the invoice's lines (its total follows), with the SyncToken it was read with."""
        return await self.client.update("Invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"],
                                                    "Line": [line.to_qbo() for line in lines]})

    async def get(self, entity: str, object_id: str) -> dict[str, Any]:
        return await self.client.get(entity, object_id)

    async def by_ids(self, entity: str, object_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Id -> object, for those of `object_ids` that exist (one query per 100 ids; a deleted one is absent)."""
        found: dict[str, dict[str, Any]] = {}
        ids = sorted(set(object_ids))
        for start in range(0, len(ids), 100):
            chunk = ", ".join(quote(i) for i in ids[start:start + 100])
            async for obj in self.client.query(f"SELECT * FROM {entity} WHERE Id IN ({chunk})", page_size=PAGE):
                found[str(obj["Id"])] = obj
        return found

    async def create_payment(self, customer_id: str, total: Decimal, lines: Mapping[str, Decimal], reference: str,
                             note: str, txn_date: date, request_id: str) -> dict[str, Any]:
        return await self.client.create_payment(customer_id, total, sorted(lines.items()), reference[:REFERENCE_LENGTH],
                                                note, txn_date=txn_date, request_id=request_id)

    @staticmethod
    def payment(customer_id: str, total: Decimal, lines: Mapping[str, Decimal], reference: str, note: str,
                txn_date: date) -> dict[str, Any]:
        """The Payment a create sends (for `create_payments`): `lines` is accounting invoice id -> amount."""
        return payment_object(customer_id, total, sorted(lines.items()), reference[:REFERENCE_LENGTH], note, txn_date)

    async def batch_ready(self) -> bool:
        return await self.client.batch_ready()

    async def create_payments(self, payments: Mapping[str, Mapping[str, Any]],
                              request_id: str) -> dict[str, dict[str, Any] | QuickBooksFault]:
        """Create up to 30 payments (key -> `payment(...)`) in one batch request keyed by `request_id`, in the
        order given: key -> the created Payment, or the fault that refused that one alone. A key missing from
        the answer was not in the batch that first answered under `request_id`: nothing was created for it."""
        items = [{"bId": key, "operation": "create", "Payment": dict(payment)} for key, payment in payments.items()]
        answered: dict[str, dict[str, Any] | QuickBooksFault] = {}
        for item in await self.client.batch(items, request_id=request_id):
            key = str(item.get("bId"))
            fault = item_fault(item)
            if fault is not None:
                answered[key] = fault
            elif "Payment" in item:
                answered[key] = item["Payment"]
        return answered

    async def update_payment(self, current: Mapping[str, Any], total: Decimal, lines: Mapping[str, Decimal],
                             note: str) -> dict[str, Any]:
        return await self.client.update("Payment", {
            "Id": current["Id"], "SyncToken": current["SyncToken"], "TotalAmt": total, "PrivateNote": note,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
                     for invoice_id, amount in sorted(lines.items())],
        })

    async def refund_receipts(self, customer_id: str, since: datetime) -> list[dict[str, Any]]:
        """The customer's refund receipts created since `since` (less the clock lookback)."""
        select = (f"SELECT * FROM RefundReceipt WHERE CustomerRef = {quote(customer_id)} "
                  f"AND MetaData.CreateTime >= {quote(_stamp(since - MARKER_LOOKBACK))}")
        return [found async for found in self.client.query(select, page_size=PAGE)]

    async def create_refund_receipt(self, customer_id: str, amount: Decimal, item_id: str, deposit_account_id: str,
                                    currency: str, note: str, txn_date: date) -> dict[str, Any]:
        line = InvoiceLine("Refund", amount, item_id=item_id)
        return await self.client.create_refund_receipt(customer_id, [line], deposit_account_id, currency, note,
                                                       txn_date=txn_date)

    async def journal_entries(self, since: datetime) -> list[dict[str, Any]]:
        """Journal entries created since `since` (less the clock lookback); they name no customer at the top."""
        select = f"SELECT * FROM JournalEntry WHERE MetaData.CreateTime >= {quote(_stamp(since - MARKER_LOOKBACK))}"
        return [found async for found in self.client.query(select, page_size=PAGE)]

    async def create_journal_entry(self, lines: Sequence[JournalLine], currency: str, note: str,
                                   txn_date: date) -> dict[str, Any]:
        return await self.client.create_journal_entry(lines, currency, note, txn_date=txn_date)

    async def delete(self, entity: str, object_id: str) -> dict[str, Any]:
        """Refund receipts and journal entries: QuickBooks cannot void them, its audit log keeps the deletion."""
        return await self.client.delete(entity, object_id)

    async def void_payment(self, payment_id: str) -> dict[str, Any]:
        return await self.client.void_payment(payment_id)

    async def invoice_pdf(self, invoice_id: str) -> bytes | None:
        return await self.client.invoice_pdf(invoice_id)

    async def check(self) -> None:
        await self.client.count("Customer")
