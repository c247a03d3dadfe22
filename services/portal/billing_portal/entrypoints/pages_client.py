"""Client pages: their own organization's invoices."""
from __future__ import annotations

from aiohttp import web

from billing_portal.entrypoints.web_support import deps, page, require

routes = web.RouteTableDef()


@routes.get("/portal/invoices")
async def invoices(request: web.Request) -> web.Response:
    who = require(request, "client")
    listed = await deps(request).services.payments.call(
        who.identity(), "GET", "/v1/invoices", params={"organization_id": who.organization_id or ""})
    items = sorted(listed["items"], key=lambda i: (i["issued_on"], i["invoice_id"]), reverse=True)
    return page(request, "client_invoices.html", {"invoices": items})
