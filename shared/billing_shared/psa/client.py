"""AutotaskClient: the one Autotask REST client (sync and notifications use it).

Thin and typed: each method is one Autotask operation (external-apis.md 1.3);
transport.py does auth, zones, limits, errors and retries.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping, Sequence

import aiohttp

from .budget import RequestBudget
from .errors import PsaError, PsaNotFound
from .query import ALL_ROWS, Filter
from .transport import AutotaskTransport, RetryPolicy
from .zone import Zone

DEFAULT_BASE_URL = "https://webservices.autotask.net/atservicesrest/"
MAX_PAGE_SIZE = 500  # MaxRecords 1-500 [C]


@dataclass(frozen=True)
class ThresholdInformation:
    """GET /V1.0/ThresholdInformation [T: public clients]."""

    external_request_threshold: int
    request_threshold_timeframe_minutes: int
    current_timeframe_request_count: int


@dataclass(frozen=True)
class PicklistValue:
    """One choice of a picklist field, from `{Entity}/entityInformation/fields`."""

    value: int | str  # an int when the wire's string holds one, as the entity field does [C: AT-DJ]
    label: str
    is_active: bool
    is_default: bool
    sort_order: int
    parent_value: int | str | None  # e.g. the issueType a subIssueType belongs to


class AutotaskClient:
    def __init__(self, session: aiohttp.ClientSession, *, username: str, secret: str,
                 integration_code: str, base_url: str = DEFAULT_BASE_URL,
                 impersonation_resource_id: int | None = None,
                 budget: RequestBudget | None = None, retry: RetryPolicy | None = None,
                 timeout: float = 60.0) -> None:
        # No budget given: a private one, so the thread limit holds anyway. Pass
        # one shared budget to every client of the same Autotask database.
        self._transport = AutotaskTransport(
            session, username=username, secret=secret, integration_code=integration_code,
            base_url=base_url, impersonation_resource_id=impersonation_resource_id,
            budget=budget or RequestBudget(), retry=retry or RetryPolicy(), timeout=timeout)

    def __repr__(self) -> str:
        t = self._transport
        return f"AutotaskClient(username={t.username!r}, base_url={t.base_url!r})"

    @property
    def budget(self) -> RequestBudget:
        return self._transport.budget

    async def zone(self, *, refresh: bool = False) -> Zone:
        """The tenant's zone (cached; `refresh` asks again)."""
        return await self._transport.zone(refresh=refresh)

    async def query(self, entity: str, filters: Sequence[Filter] = (), *,
                    include_fields: Sequence[str] | None = None,
                    page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
        """Every matching row, page by page in id order, following nextPageUrl
        until it is null and re-POSTing the same body to it [C: AT-OAS, AT-DJ]."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        body: dict[str, Any] = {"MaxRecords": page_size, "filter": list(filters or ALL_ROWS)}
        if include_fields:
            # With more than one page, id must be among the included fields [C].
            body["IncludeFields"] = ["id", *[f for f in include_fields if f != "id"]]
        reply = await self._transport.call("POST", entity, f"{entity}/query", body=body,
                                           idempotent=True)
        while True:
            page = reply.json()
            for item in page.get("items") or ():
                yield item
            next_url = (page.get("pageDetails") or {}).get("nextPageUrl")
            if not next_url:
                return
            reply = await self._transport.call("POST", entity, url=next_url, body=body,
                                               idempotent=True)

    async def count(self, entity: str, filters: Sequence[Filter] = ()) -> int:
        reply = await self._transport.call("POST", entity, f"{entity}/query/count",
                                           body={"filter": list(filters or ALL_ROWS)},
                                           idempotent=True)
        return int(reply.json()["queryCount"])

    async def get(self, entity: str, id: int) -> dict[str, Any] | None:
        """The row, or None when it does not exist (item null, or a 404)."""
        try:
            reply = await self._transport.call("GET", entity, f"{entity}/{int(id)}",
                                               idempotent=True)
        except PsaNotFound:
            return None
        return reply.json().get("item")

    async def create(self, entity: str, fields: Mapping[str, Any]) -> int:
        """POST; answers the new id. Never retried automatically."""
        reply = await self._transport.call("POST", entity, entity, body=dict(fields),
                                           idempotent=False, write=True)
        return _item_id(reply.json(), entity)

    async def update(self, entity: str, id: int, fields: Mapping[str, Any]) -> int:
        """PATCH with the changed fields only; the id goes in the body [C].
        Retried: sending the same values twice leaves the same row."""
        reply = await self._transport.call("PATCH", entity, entity,
                                           body={**fields, "id": int(id)},
                                           idempotent=True, write=True)
        return _item_id(reply.json(), entity)

    async def create_child(self, parent: str, parent_id: int, child: str,
                           fields: Mapping[str, Any]) -> int:
        """POST /{parent}/{parent_id}/{child}, e.g. Companies/5/Contacts."""
        reply = await self._transport.call("POST", child, f"{parent}/{int(parent_id)}/{child}",
                                           body=dict(fields), idempotent=False, write=True)
        return _item_id(reply.json(), child)

    async def fields(self, entity: str) -> list[dict[str, Any]]:
        """GET {entity}/entityInformation/fields: every field's metadata [C: AT-OAS]."""
        reply = await self._transport.call("GET", entity, f"{entity}/entityInformation/fields",
                                           idempotent=True)
        return list((reply.json() or {}).get("fields") or [])

    async def picklist(self, entity: str, field: str, *,
                       include_inactive: bool = False) -> list[PicklistValue]:
        """The choices of a picklist field (Tickets queueID, issueType, priority, status...) in
        the tenant's sort order; values are per tenant, so read them, never hard-code them."""
        for info in await self.fields(entity):
            if str(info.get("name", "")).lower() != field.lower():
                continue
            if not info.get("isPickList"):
                raise PsaError(f"Autotask {entity}.{field} is not a picklist")
            values = [_picklist_value(raw) for raw in info.get("picklistValues") or ()]
            values.sort(key=lambda v: v.sort_order)
            return [v for v in values if include_inactive or v.is_active]
        raise PsaError(f"Autotask {entity} has no field {field}")

    async def invoice_pdf(self, invoice_id: int) -> bytes | None:
        """The invoice as PDF bytes, or None when Autotask has none for it.

        The path (`Invoices/{id}/InvoicePDF`) and the answer's shape are
        unconfirmed [?]: raw PDF bytes are taken as they are, and a JSON answer
        carrying base64 `data` (a common Autotask attachment shape) is decoded."""
        try:
            reply = await self._transport.call("GET", "Invoices",
                                               f"Invoices/{int(invoice_id)}/InvoicePDF",
                                               idempotent=True)
        except PsaNotFound:
            return None
        if reply.body.startswith(b"%PDF"):
            return reply.body
        if reply.content_type.endswith("json"):
            return _pdf_from_json(reply.json())
        return reply.body or None

    async def threshold_information(self) -> ThresholdInformation:
        reply = await self._transport.call("GET", "ThresholdInformation", "ThresholdInformation",
                                           idempotent=True)
        data = reply.json()
        info = ThresholdInformation(
            external_request_threshold=int(data["externalRequestThreshold"]),
            request_threshold_timeframe_minutes=int(data["requestThresholdTimeframe"]),
            current_timeframe_request_count=int(data["currentTimeframeRequestCount"]))
        # The server's count includes the other integrations on this database.
        self.budget.absorb_server_count(info.current_timeframe_request_count)
        return info


def _item_id(data: Any, entity: str) -> int:
    if not isinstance(data, dict) or not isinstance(data.get("itemId"), int):
        raise PsaError(f"Autotask {entity} write answered without an itemId")
    return data["itemId"]


def _wire_int(value: Any) -> int | str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _picklist_value(raw: dict[str, Any]) -> PicklistValue:
    value = _wire_int(raw.get("value"))
    return PicklistValue(value="" if value is None else value,
                         label=str(raw.get("label") or ""), is_active=bool(raw.get("isActive")),
                         is_default=bool(raw.get("isDefaultValue")),
                         sort_order=int(raw.get("sortOrder") or 0),
                         parent_value=_wire_int(raw.get("parentValue")))


def _pdf_from_json(data: Any) -> bytes | None:
    for holder in (data, (data or {}).get("item"), *((data or {}).get("items") or [])):
        if isinstance(holder, dict) and isinstance(holder.get("data"), str):
            return base64.b64decode(holder["data"])
    return None
