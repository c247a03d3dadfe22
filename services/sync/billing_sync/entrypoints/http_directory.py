"""Mirrored organizations and contacts (staff), and quotes (staff, and clients for their own)."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal, require_permission
from billing_shared.web.errors import not_found
from billing_shared.web.paging import next_cursor, page_request, text_after
from billing_shared.web.routes import ApiRoutes

from billing_sync.adapters import directory_store, integration_store
from billing_sync.domain.directory import quote_url
from billing_sync.entrypoints.views import ContactPage, ContactView, QuotePage, QuoteView
from billing_sync.entrypoints.web_support import deps
from billing_sync.service.directory import contact_name

routes = ApiRoutes()
CLIENT_QUOTES_KEY = "client_quotes"


@routes.get("/v1/organizations", summary="Mirrored organizations (q: name contains, any case)", roles=("manager",))
async def list_organizations(request: web.Request) -> web.Response:
    page = page_request(request)
    search = (request.query.get("q") or "").strip()[:200] or None
    rows = await directory_store.organizations_page(deps(request).pool, text_after(page), page.limit + 1, search)
    return json_ok({
        "items": [dict(r) for r in rows[: page.limit]],
        "next_cursor": next_cursor(rows, page.limit, lambda r: [r["organization_id"]]),
    })


@routes.get("/v1/organizations/{id}/contacts", summary="Contacts of an organization", roles=("manager",),
            response=ContactPage)
async def list_contacts(request: web.Request) -> web.Response:
    page = page_request(request)
    await _known(request, request.match_info["id"])
    rows = await directory_store.contacts_page(deps(request).pool, request.match_info["id"], text_after(page),
                                               page.limit + 1)
    items = [ContactView(contact_id=r["contact_id"], organization_id=r["organization_id"], name=contact_name(r),
                         email=r["email"], active=r["active"], primary=r["is_primary"], billing=r["is_billing"])
             for r in rows[: page.limit]]
    return json_ok(ContactPage(items=items, next_cursor=next_cursor(rows, page.limit, lambda r: [r["contact_id"]])))


@routes.get("/v1/organizations/{id}/quotes", summary="Open opportunities with their quote link",
            roles=("manager", "client"), response=QuotePage)
async def list_quotes(request: web.Request) -> web.Response:
    d = deps(request)
    organization_id = request.match_info["id"]
    who = principal(request)
    who.check_organization(organization_id, "organization")
    require_permission(request, "view_quotes")  # a client whose profile does not allow quotes
    if who.role == "client" and await integration_store.app_setting(d.pool, CLIENT_QUOTES_KEY) is False:
        raise not_found("organization")
    await _known(request, organization_id)
    page = page_request(request)
    rows = await directory_store.open_opportunities_page(d.pool, organization_id, text_after(page), page.limit + 1)
    psa = await d.connections.autotask()
    field = psa.settings.quote_url_field if psa else None
    items = [QuoteView(opportunity_id=r["opportunity_id"], organization_id=r["organization_id"], title=r["title"],
                       status="open", amount=r["amount"], quote_url=quote_url(r["user_fields"], field))
             for r in rows[: page.limit]]
    return json_ok(QuotePage(items=items, next_cursor=next_cursor(rows, page.limit, lambda r: [r["opportunity_id"]])))


async def _known(request: web.Request, organization_id: str) -> None:
    """An organization the directory has never mirrored is a missing id (404), for staff too: never an
    empty page that looks like a real organization without contacts."""
    if not await directory_store.organization_exists(deps(request).pool, organization_id):
        raise not_found("organization")
