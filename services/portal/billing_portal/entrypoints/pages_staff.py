"""Staff pages: organizations, their Invoice History, and the payment contact for Process Payment."""
from __future__ import annotations

import asyncio

from aiohttp import web

from billing_portal.entrypoints.web_support import cursor_param, deps, page, require

routes = web.RouteTableDef()
PAGE_SIZE = "50"


@routes.get("/organizations")
async def organizations(request: web.Request) -> web.Response:
    who = require(request, "manager")
    search = request.query.get("q", "").strip()
    listed = await deps(request).services.sync.call(who.identity(), "GET", "/v1/organizations", params={
        "limit": PAGE_SIZE, **({"q": search} if search else {}), **cursor_param(request)})
    return page(request, "organizations.html", {"organizations": listed["items"], "q": search,
                                                "next_cursor": listed["next_cursor"]})


@routes.get("/organizations/{organization_id}/invoices")
async def invoice_history(request: web.Request) -> web.Response:
    who = require(request, "manager")
    organization_id = request.match_info["organization_id"]
    services = deps(request).services
    invoices, contacts = await asyncio.gather(
        services.payments.call(who.identity(), "GET", "/v1/invoices",
                               params={"organization_id": organization_id, "order": "newest", "limit": PAGE_SIZE,
                                       **cursor_param(request)}),
        services.sync.call(who.identity(), "GET", f"/v1/organizations/{organization_id}/contacts",
                           params={"limit": "200"}))
    return page(request, "invoice_history.html", {
        "organization_id": organization_id, "invoices": invoices["items"], "next_cursor": invoices["next_cursor"],
        "contacts": [c for c in contacts["items"] if c["active"]]})


@routes.get("/invoices/{invoice_id}/contact")
async def assign_payment_contact(request: web.Request) -> web.Response:
    """Process Payment, step one (the page form of the dialog): who is paying."""
    who = require(request, "manager")
    organization_id = request.query.get("organization_id", "")
    contacts = await deps(request).services.sync.call(
        who.identity(), "GET", f"/v1/organizations/{organization_id}/contacts", params={"limit": "200"})
    return page(request, "assign_contact.html", {
        "action": f"/invoices/{request.match_info['invoice_id']}/pay", "invoices": [],
        "organization_id": organization_id, "contacts": [c for c in contacts["items"] if c["active"]]})


@routes.get("/pay/contact")
async def assign_payment_contact_for_several(request: web.Request) -> web.Response:
    """Pay selected (Invoice History): who is paying the invoices ticked."""
    who = require(request, "manager")
    organization_id = request.query.get("organization_id", "")
    invoices = list(dict.fromkeys(request.query.getall("invoice", [])))
    if not invoices:
        raise web.HTTPSeeOther(f"/organizations/{organization_id}/invoices")
    contacts = await deps(request).services.sync.call(
        who.identity(), "GET", f"/v1/organizations/{organization_id}/contacts", params={"limit": "200"})
    return page(request, "assign_contact.html", {
        "action": "/pay", "invoices": invoices, "organization_id": organization_id,
        "contacts": [c for c in contacts["items"] if c["active"]]})
