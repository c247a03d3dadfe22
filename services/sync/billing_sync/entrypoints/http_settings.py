"""Sync settings beyond the integrations (image sources, client access), invoice images, and the
payment write-back queue for staff to watch."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal, require_permission
from billing_shared.web.errors import not_found, read_json
from billing_shared.web.paging import next_cursor, page_request, text_after
from billing_shared.web.routes import ApiRoutes

from billing_sync.adapters import integration_store, invoice_store, writeback_store
from billing_sync.entrypoints.http_directory import CLIENT_QUOTES_KEY
from billing_sync.entrypoints.views import ClientAccessIn, ImageSourcesIn, WritebackPage, WritebackView, parse
from billing_sync.entrypoints.web_support import deps
from billing_sync.service.images import IMAGE_SOURCES_KEY, invoice_image, sources

routes = ApiRoutes()


@routes.get("/v1/settings/invoice-image", summary="Invoice image sources, in the order tried", roles=("admin",))
async def get_image_sources(request: web.Request) -> web.Response:
    return json_ok({"sources": list(await sources(deps(request)))})


@routes.put("/v1/settings/invoice-image", summary="Set the invoice image sources", roles=("admin",),
            body=ImageSourcesIn)
async def put_image_sources(request: web.Request) -> web.Response:
    body: ImageSourcesIn = parse(ImageSourcesIn, await read_json(request))
    await integration_store.set_app_setting(deps(request).pool, IMAGE_SOURCES_KEY, body.sources)
    return json_ok({"sources": body.sources})


@routes.get("/v1/settings/client-access", summary="What client contacts may see", roles=("admin",))
async def get_client_access(request: web.Request) -> web.Response:
    value = await integration_store.app_setting(deps(request).pool, CLIENT_QUOTES_KEY)
    return json_ok({"quotes": value is not False})


@routes.put("/v1/settings/client-access", summary="Let client contacts see quotes or not", roles=("admin",),
            body=ClientAccessIn)
async def put_client_access(request: web.Request) -> web.Response:
    body: ClientAccessIn = parse(ClientAccessIn, await read_json(request))
    await integration_store.set_app_setting(deps(request).pool, CLIENT_QUOTES_KEY, body.quotes)
    return json_ok({"quotes": body.quotes})


@routes.get("/v1/invoices/{id}/image", summary="The invoice as PDF, from the first source that has it",
            roles=("manager", "client"))
async def get_invoice_image(request: web.Request) -> web.Response:
    d = deps(request)
    invoice_id = request.match_info["id"]
    organization_id = await invoice_store.organization_of(d.pool, invoice_id)
    if organization_id is None:
        raise not_found("invoice")
    principal(request).check_organization(organization_id, "invoice")
    require_permission(request, "view_invoices")  # the PDF is the invoice: a profile without invoices is refused
    found = await invoice_image(d, invoice_id)
    if found is None:
        raise not_found("invoice image")
    image, source = found
    return web.Response(body=image, content_type="application/pdf", headers={"X-Image-Source": source})


@routes.get("/v1/sync/payment-writebacks", summary="Payments written back to accounting and the PSA",
            roles=("admin",), response=WritebackPage)
async def list_writebacks(request: web.Request) -> web.Response:
    page = page_request(request)
    rows = await writeback_store.listing(deps(request).pool, text_after(page),
                                         page.limit + 1, request.query.get("pending") == "true")
    items = [WritebackView(payment_id=r["payment_id"], organization_id=r["organization_id"], status=r["status"],
                           pending=r["desired_seq"] > r["done_seq"], accounting_payment_id=r["accounting_payment_id"],
                           accounting_voided=r["accounting_voided"], attempts=r["attempts"],
                           next_attempt_at=r["next_attempt_at"], last_error=r["last_error"])
             for r in rows[: page.limit]]
    return json_ok(WritebackPage(items=items, next_cursor=next_cursor(rows, page.limit, lambda r: [r["payment_id"]])))
