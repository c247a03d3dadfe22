"""A thin async client of the QuickBooks Online Accounting API v3 (external-apis.md 2).

It speaks QuickBooks' own shapes (dicts with `Id`, `SyncToken`, `Line`...); turning
them into our domain is the caller's job. What it adds: paging of queries, SyncToken
conflict retries for updates, Decimal money; the transport adds the bearer token,
429 waits and typed errors (quickbooks_errors.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import aiohttp
import structlog

from .quickbooks_auth import TokenProvider
from .quickbooks_errors import (
    QuickBooksAuthError,
    QuickBooksError,
    QuickBooksFault,
    QuickBooksThrottled,
    QuickBooksUnavailable,
    fault_from_body,
)
from .quickbooks_pacing import Pacer, Spacing
from .quickbooks_transport import QuickBooksTransport

__all__ = [
    "CDC_MAX_OBJECTS",
    "InvoiceLine",
    "QuickBooksAuthError",
    "QuickBooksClient",
    "QuickBooksError",
    "QuickBooksFault",
    "QuickBooksThrottled",
    "QuickBooksUnavailable",
    "TokenProvider",
    "quote",
]

log = structlog.get_logger(__name__)

# QuickBooks caps a CDC answer at this many objects for all entities together; a
# full answer means the window must be split before it can serve as a checkpoint.
CDC_MAX_OBJECTS = 1000


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    amount: Decimal
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    item_id: str | None = None  # None: the company's default item ("Services")

    def to_qbo(self) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        if self.item_id:
            detail["ItemRef"] = {"value": self.item_id}
        if self.quantity is not None:
            detail["Qty"] = self.quantity
        if self.unit_price is not None:
            detail["UnitPrice"] = self.unit_price
        return {
            "DetailType": "SalesItemLineDetail",
            "Amount": self.amount,
            "Description": self.description,
            "SalesItemLineDetail": detail,
        }


@dataclass(frozen=True)
class JournalLine:
    posting: Literal["Debit", "Credit"]
    account_id: str
    amount: Decimal
    description: str
    customer_id: str | None = None  # required by QuickBooks on an Accounts Receivable line

    def to_qbo(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"PostingType": self.posting, "AccountRef": {"value": self.account_id}}
        if self.customer_id:
            detail["Entity"] = {"Type": "Customer", "EntityRef": {"value": self.customer_id}}
        return {"DetailType": "JournalEntryLineDetail", "Amount": self.amount, "Description": self.description,
                "JournalEntryLineDetail": detail}


def quote(value: str) -> str:
    """A string literal for the query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        realm_id: str,
        token_provider: TokenProvider,
        minor_version: int = 75,
        throttle_wait_seconds: float = 60.0,
        max_throttle_retries: int = 3,
        max_conflict_retries: int = 3,
        request_timeout_seconds: float = 120.0,
        pacer: Pacer | None = None,
        batch_pacer: Spacing | None = None,
    ) -> None:
        self._batch_pacer = batch_pacer  # None: no pacing of batches (a caller owning the realm's traffic passes one)
        self._transport = QuickBooksTransport(
            session,
            base_url=base_url,
            realm_id=realm_id,
            token_provider=token_provider,
            minor_version=minor_version,
            throttle_wait_seconds=throttle_wait_seconds,
            max_throttle_retries=max_throttle_retries,
            request_timeout_seconds=request_timeout_seconds,
            pacer=pacer,
        )
        self._request = self._transport.request
        self._max_conflict_retries = max_conflict_retries

    def __repr__(self) -> str:
        return f"QuickBooksClient({self._transport.company_url!r})"

    # -- reading -------------------------------------------------------------
    async def get(self, entity: str, object_id: str) -> dict[str, Any]:
        body = await self._request("GET", f"{entity.lower()}/{object_id}")
        return body[entity]

    async def query(self, select: str, *, page_size: int = 100) -> AsyncIterator[dict[str, Any]]:
        """Every object `select` finds; it must not carry STARTPOSITION or MAXRESULTS."""
        start = 1
        while True:
            page_query = f"{select} STARTPOSITION {start} MAXRESULTS {page_size}"
            body = await self._request("GET", "query", params={"query": page_query})
            page = _query_rows(body.get("QueryResponse", {}))
            for row in page:
                yield row
            if len(page) < page_size:
                return
            start += page_size

    async def count(self, entity: str, where: str = "") -> int:
        select = f"SELECT COUNT(*) FROM {entity}" + (f" WHERE {where}" if where else "")
        body = await self._request("GET", "query", params={"query": select})
        return int(body.get("QueryResponse", {}).get("totalCount", 0))

    async def cdc(self, entities: Sequence[str], changed_since: datetime) -> dict[str, list[dict[str, Any]]]:
        """Objects changed since `changed_since` (aware), per entity; deleted ones carry `status`."""
        if changed_since.tzinfo is None:
            raise ValueError("changed_since must carry a time zone")
        params = {"entities": ",".join(entities), "changedSince": changed_since.isoformat()}
        body = await self._request("GET", "cdc", params=params)
        changed: dict[str, list[dict[str, Any]]] = {entity: [] for entity in entities}
        for block in body.get("CDCResponse", []):
            for response in block.get("QueryResponse", []):
                for entity in entities:
                    changed[entity].extend(response.get(entity, []))
        return changed

    async def find_customer_by_name(self, name: str) -> dict[str, Any] | None:
        async for customer in self.query(f"SELECT * FROM Customer WHERE DisplayName = {quote(name)}"):
            return customer
        return None

    async def invoice_pdf(self, invoice_id: str) -> bytes | None:
        """GET invoice/{id}/pdf: the invoice as accounting prints it; None when there is none."""
        return await self._transport.request_bytes(f"invoice/{invoice_id}/pdf", "application/pdf")

    # -- writing -------------------------------------------------------------
    async def create_customer(
        self,
        display_name: str,
        *,
        company_name: str | None = None,
        email: str | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        customer: dict[str, Any] = {"DisplayName": display_name}
        if company_name:
            customer["CompanyName"] = company_name
        if email:
            customer["PrimaryEmailAddr"] = {"Address": email}
        if currency:
            customer["CurrencyRef"] = {"value": currency}
        return await self._create("Customer", customer)

    async def create_invoice(
        self,
        customer_id: str,
        lines: Sequence[InvoiceLine],
        txn_date: date,
        due_date: date,
        currency: str,
        private_note: str | None = None,
        *,
        doc_number: str | None = None,
    ) -> dict[str, Any]:
        """Without `doc_number`, QuickBooks numbers the invoice: read `DocNumber` back."""
        invoice: dict[str, Any] = {
            "CustomerRef": {"value": customer_id},
            "Line": [line.to_qbo() for line in lines],
            "TxnDate": txn_date.isoformat(),
            "DueDate": due_date.isoformat(),
            "CurrencyRef": {"value": currency},
        }
        if private_note:
            invoice["PrivateNote"] = private_note
        if doc_number:
            invoice["DocNumber"] = doc_number
        return await self._create("Invoice", invoice)

    async def create_payment(
        self,
        customer_id: str,
        total: Decimal,
        applied: Sequence[tuple[str, Decimal]],
        reference: str,
        private_note: str | None = None,
        *,
        txn_date: date | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """`applied` is (invoice Id, amount) pairs; what is left of `total` stays unapplied. `request_id`:
        QuickBooks' `requestid` (at most 50 characters): the same create sent again, by a retry or by
        another process, gets the first answer and makes no second payment."""
        payment = payment_object(customer_id, total, applied, reference, private_note, txn_date)
        return await self._create("Payment", payment, request_id=request_id)

    async def batch_ready(self) -> bool:
        """Wait until a batch request may go at once (see `Spacing.ready`); True when it waited."""
        return await self._batch_pacer.ready() if self._batch_pacer is not None else False

    async def batch(self, items: Sequence[dict[str, Any]], *, request_id: str | None = None) -> list[dict[str, Any]]:
        """`POST batch`: at most 30 items (`{"bId", "operation": "create", "Payment": {...}}` or `{"bId", "Query":
        "select ..."}`), run in order, each on its own; their answers (`bId` and the object, `QueryResponse` or
        `Fault`: see `item_fault`). One request of the realm's limits, and one of its 40 batches a minute.
        `request_id` works as on a create: the same batch sent again gets the first answer, nothing runs twice."""
        if self._batch_pacer is not None:
            await self._batch_pacer.admit()
        params = {"requestid": request_id} if request_id else None
        body = await self._request("POST", "batch", params=params, json_body={"BatchItemRequest": list(items)})
        return list(body.get("BatchItemResponse") or [])

    async def create_refund_receipt(
        self,
        customer_id: str,
        lines: Sequence[InvoiceLine],
        deposit_account_id: str,
        currency: str,
        private_note: str,
        *,
        txn_date: date | None = None,
    ) -> dict[str, Any]:
        """Money paid back to the customer out of `deposit_account_id` (required by QuickBooks)."""
        receipt: dict[str, Any] = {
            "CustomerRef": {"value": customer_id},
            "Line": [line.to_qbo() for line in lines],
            "DepositToAccountRef": {"value": deposit_account_id},
            "CurrencyRef": {"value": currency},
            "PrivateNote": private_note,
        }
        if txn_date:
            receipt["TxnDate"] = txn_date.isoformat()
        return await self._create("RefundReceipt", receipt)

    async def create_journal_entry(
        self,
        lines: Sequence[JournalLine],
        currency: str,
        private_note: str,
        *,
        txn_date: date | None = None,
    ) -> dict[str, Any]:
        """Debit and credit lines that balance; an Accounts Receivable line must name its customer."""
        entry: dict[str, Any] = {
            "Line": [line.to_qbo() for line in lines],
            "CurrencyRef": {"value": currency},
            "PrivateNote": private_note,
        }
        if txn_date:
            entry["TxnDate"] = txn_date.isoformat()
        return await self._create("JournalEntry", entry)

    async def create(self, entity: str, obj: dict[str, Any]) -> dict[str, Any]:
        """A list object (Account, Item) as QuickBooks takes it."""
        return await self._create(entity, obj)

    async def delete(self, entity: str, object_id: str) -> dict[str, Any]:
        return await self._write_current(entity, {"Id": object_id}, params={"operation": "delete"})

    async def update(self, entity: str, changes: dict[str, Any], *, sparse: bool = True) -> dict[str, Any]:
        """Write `changes` (with `Id`) onto the object; on a stale SyncToken, re-read and retry.

        The retry sends the same fields with the fresh SyncToken, so with
        `sparse=False` (a full update) the caller's object wins over a concurrent edit.
        """
        return await self._write_current(entity, changes, params=None, sparse=sparse)

    async def void_payment(self, payment_id: str) -> dict[str, Any]:
        params = {"operation": "update", "include": "void"}
        return await self._write_current("Payment", {"Id": payment_id}, params=params, sparse=True)

    async def delete_payment(self, payment_id: str) -> dict[str, Any]:
        return await self._write_current("Payment", {"Id": payment_id}, params={"operation": "delete"})

    async def void_invoice(self, invoice_id: str) -> dict[str, Any]:
        return await self._write_current("Invoice", {"Id": invoice_id}, params={"operation": "void"})

    # -- plumbing ------------------------------------------------------------
    async def _create(self, entity: str, obj: dict[str, Any], *, request_id: str | None = None) -> dict[str, Any]:
        params = {"requestid": request_id} if request_id else None
        body = await self._request("POST", entity.lower(), params=params, json_body=obj)
        return body[entity]

    async def _write_current(
        self, entity: str, changes: dict[str, Any], *, params: dict[str, str] | None, sparse: bool = False
    ) -> dict[str, Any]:
        """POST `changes` with a current SyncToken, re-reading it after each 5010 (bounded)."""
        object_id = str(changes["Id"])
        sync_token = changes.get("SyncToken")
        for attempt in range(self._max_conflict_retries + 1):
            if sync_token is None:
                sync_token = (await self.get(entity, object_id))["SyncToken"]
            body = {**changes, "Id": object_id, "SyncToken": str(sync_token)}
            if sparse:
                body["sparse"] = True
            try:
                answer = await self._request("POST", entity.lower(), params=params, json_body=body)
            except QuickBooksFault as fault:
                if not fault.is_stale_object or attempt == self._max_conflict_retries:
                    raise
                log.info("quickbooks.stale_sync_token", entity=entity, id=object_id, attempt=attempt + 1)
                sync_token = None
                continue
            return answer[entity]
        raise AssertionError("unreachable")


def payment_object(
    customer_id: str,
    total: Decimal,
    applied: Sequence[tuple[str, Decimal]],
    reference: str,
    private_note: str | None = None,
    txn_date: date | None = None,
) -> dict[str, Any]:
    """A Payment as a create sends it, alone or as a batch item: `applied` is (invoice Id, amount) pairs."""
    payment: dict[str, Any] = {
        "CustomerRef": {"value": customer_id},
        "TotalAmt": total,
        "PaymentRefNum": reference,
        "Line": [
            {"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
            for invoice_id, amount in applied
        ],
    }
    if private_note:
        payment["PrivateNote"] = private_note
    if txn_date:
        payment["TxnDate"] = txn_date.isoformat()
    return payment


def item_fault(item: dict[str, Any]) -> QuickBooksFault | None:
    """The fault of one batch item's answer (None: it succeeded); a batch answers 200 whatever its items did."""
    return fault_from_body(400, item) if "Fault" in item else None


def _query_rows(response: dict[str, Any]) -> list[dict[str, Any]]:
    # The entity's list is the one list in a QueryResponse (the rest are counters).
    for value in response.values():
        if isinstance(value, list):
            return value
    return []
