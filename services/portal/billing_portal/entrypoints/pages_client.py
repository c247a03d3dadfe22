"""Client pages, all of the person's own organization: invoices, payment history, wallet, quotes."""
from __future__ import annotations

import asyncio

from aiohttp import web

from billing_portal.entrypoints.pages_pay import with_gateway
from billing_portal.entrypoints.web_support import cursor_param, audit, deps, page, redirect, require, require_permission

routes = web.RouteTableDef()


@routes.get("/portal/invoices")
async def invoices(request: web.Request) -> web.Response:
    require(request, "client")
    who = require_permission(request, "view_invoices")
    listed = await deps(request).services.payments.call(
        who.identity(), "GET", "/v1/invoices",
        params={"organization_id": who.organization_id or "", "order": "newest", "limit": "50", **cursor_param(request)})
    return page(request, "client_invoices.html", {"invoices": listed["items"], "next_cursor": listed["next_cursor"]})


@routes.get("/portal/payments")
async def payments(request: web.Request) -> web.Response:
    who = require(request, "client")
    listed = await deps(request).services.payments.call(
        who.identity(), "GET", "/v1/payments",
        params={"organization_id": who.organization_id or "", "limit": "25", **cursor_param(request)})
    return page(request, "client_payments.html", {"payments": listed["items"], "next_cursor": listed["next_cursor"]})


def _wallet_path(organization_id: str | None) -> str:
    return f"/v1/organizations/{organization_id}/wallet"


@routes.get("/portal/wallet")
async def wallet(request: web.Request) -> web.Response:
    who = require(request, "client")
    require_permission(request, "make_payments")
    services = deps(request).services
    methods, form = await asyncio.gather(
        services.payments.call(who.identity(), "GET", _wallet_path(who.organization_id)),
        services.payments.call(who.identity(), "GET", "/v1/payment-form"))
    response = page(request, "client_wallet.html", {"methods": methods["items"], "form": form})
    return with_gateway(response, form["collect_js_url"])


@routes.post("/portal/wallet")
async def add_method(request: web.Request) -> web.Response:
    who = require(request, "client")
    require_permission(request, "make_payments")
    token = str((await request.post()).get("payment_token", ""))
    added = await deps(request).services.payments.call(who.identity(), "POST", _wallet_path(who.organization_id),
                                                       json={"token": token})
    await audit(request, "added a payment method", added.get("method_id"))
    raise redirect(request, "/portal/wallet", flash="Payment method saved")


@routes.get("/portal/wallet/{method_id}/remove")
async def confirm_remove(request: web.Request) -> web.Response:
    who = require(request, "client")
    require_permission(request, "make_payments")
    methods = await deps(request).services.payments.call(who.identity(), "GET", _wallet_path(who.organization_id))
    if not any(m["method_id"] == request.match_info["method_id"] for m in methods["items"]):
        raise web.HTTPNotFound()
    return page(request, "confirm.html", {
        "title": "Remove this payment method?", "message": "It is deleted from the gateway's vault as well.",
        "action": f"/portal/wallet/{request.match_info['method_id']}/remove", "back": "/portal/wallet"})


@routes.post("/portal/wallet/{method_id}/remove")
async def remove_method(request: web.Request) -> web.Response:
    who = require(request, "client")
    require_permission(request, "make_payments")
    method_id = request.match_info["method_id"]
    await deps(request).services.payments.call(who.identity(), "DELETE",
                                                f"{_wallet_path(who.organization_id)}/{method_id}")
    await audit(request, "removed a payment method", method_id)
    raise redirect(request, "/portal/wallet", flash="Payment method removed")


@routes.get("/portal/quotes")
async def quotes(request: web.Request) -> web.Response:
    who = require(request, "client")
    require_permission(request, "view_quotes")
    listed = await deps(request).services.sync.call(
        who.identity(), "GET", f"/v1/organizations/{who.organization_id}/quotes", params={"limit": "100"})
    return page(request, "client_quotes.html", {"quotes": listed["items"]})
