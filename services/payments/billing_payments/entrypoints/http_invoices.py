"""`GET /v1/invoices`: the payable view of invoices (by id; or an organization's, newest first)."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal, require_permission
from billing_shared.web.errors import invalid_request, not_found
from billing_shared.web.paging import date_and_text_before, encode_cursor, page_request, text_after
from billing_shared.web.routes import ApiRoutes

from billing_payments.adapters import invoice_store
from billing_payments.entrypoints.views import InvoicePage, InvoiceView
from billing_payments.entrypoints.web_support import deps

routes = ApiRoutes()
STATUSES = ("open", "paid", "voided")
ORDERS = ("id", "newest")


@routes.get("/v1/invoices", summary="Invoices with balance and payable", roles=("manager", "client"),
            response=InvoicePage)
async def list_invoices(request: web.Request) -> web.Response:
    who = require_permission(request, "view_invoices")
    organization_id = request.query.get("organization_id") or None
    if who.role == "client":
        who.check_organization(organization_id or who.organization_id, "organization")
        organization_id = who.organization_id
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise invalid_request(f"status must be one of {', '.join(STATUSES)}", {"status": status})
    order = request.query.get("order") or "id"
    if order not in ORDERS or (order == "newest" and organization_id is None):
        raise invalid_request("order is `id`, or `newest` (issued date, newest first) with an organization_id",
                              {"fields": {"order": "must be id, or newest with organization_id"}})
    page = page_request(request)
    if order == "newest":
        assert organization_id is not None
        found = await invoice_store.newest_of(deps(request).pool, organization_id=organization_id, status=status,
                                              before=date_and_text_before(page), limit=page.limit + 1)
    else:
        found = await invoice_store.list_invoices(deps(request).pool, organization_id=organization_id,
                                                  status=status, after=text_after(page), limit=page.limit + 1)
    more = len(found) > page.limit
    items = found[: page.limit]
    last = items[-1] if items else None
    cursor = None
    if more and last is not None:
        cursor = encode_cursor([last.issued_on.isoformat(), last.invoice_id] if order == "newest"
                               else [last.invoice_id])
    return json_ok(InvoicePage(items=[InvoiceView.of(i) for i in items], next_cursor=cursor))


@routes.get("/v1/invoices/{invoice_id}", summary="One invoice with balance and payable", roles=("manager", "client"),
            response=InvoiceView)
async def get_invoice(request: web.Request) -> web.Response:
    require_permission(request, "view_invoices")
    invoice = await invoice_store.get(deps(request).pool, request.match_info["invoice_id"])
    if invoice is None or not principal(request).can_see(invoice.organization_id):
        raise not_found("invoice")
    return json_ok(InvoiceView.of(invoice))
