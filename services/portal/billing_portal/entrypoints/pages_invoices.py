"""One invoice with its image (sync's image sources, in the configured order), and the image order (admin)."""
from __future__ import annotations

from aiohttp import web

from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require, require_permission

routes = web.RouteTableDef()
SOURCES = {"psa": "Autotask (the PSA's invoice PDF)", "accounting": "QuickBooks Online (the accounting invoice PDF)"}


@routes.get("/invoices/{invoice_id}")
async def invoice(request: web.Request) -> web.Response:
    require(request, "manager", "client")
    who = require_permission(request, "view_invoices")
    invoice_id = request.match_info["invoice_id"]
    shown = await deps(request).services.payments.call(who.identity(), "GET", f"/v1/invoices/{invoice_id}")
    if who.role == "client":
        pay = f"/invoices/{invoice_id}/pay"
    else:
        pay = f"/invoices/{invoice_id}/contact?organization_id={shown['organization_id']}"
    return page(request, "invoice.html", {"invoice": shown, "pay_url": pay if who.may("make_payments") else None})


@routes.get("/invoices/{invoice_id}/image")
async def invoice_image(request: web.Request) -> web.Response:
    require(request, "manager", "client")
    who = require_permission(request, "view_invoices")
    found = await deps(request).services.sync.fetch_bytes(who.identity(),
                                                          f"/v1/invoices/{request.match_info['invoice_id']}/image")
    if found is None:
        return page(request, "error.html", {"title": "No image", "message": "No image of this invoice is available "
                                            "from Autotask or QuickBooks Online yet."}, status=404)
    body, content_type = found
    response = web.Response(body=body, content_type=content_type)
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'self'"
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


@routes.get("/settings/invoice-image")
async def image_order(request: web.Request) -> web.Response:
    who = require(request, "admin")
    stored = await deps(request).services.sync.call(who.identity(), "GET", "/v1/settings/invoice-image")
    order = list(stored["sources"]) + [s for s in SOURCES if s not in stored["sources"]]
    return page(request, "invoice_image.html", {"order": order, "used": set(stored["sources"]), "labels": SOURCES})


@routes.post("/settings/invoice-image")
async def save_image_order(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = await request.post()
    ranked = sorted((int(str(form.get(f"position_{s}", "9")) or 9), s) for s in SOURCES if form.get(f"use_{s}") == "on")
    sources = [s for _, s in ranked]
    if not sources:
        raise redirect(request, "/settings/invoice-image", flash="Choose at least one image source.", ok=False)
    await deps(request).services.sync.call(who.identity(), "PUT", "/v1/settings/invoice-image",
                                           json={"sources": sources})
    await audit(request, "saved the invoice image order", None, {"sources": sources})
    raise redirect(request, "/settings/invoice-image", flash="Settings saved")
