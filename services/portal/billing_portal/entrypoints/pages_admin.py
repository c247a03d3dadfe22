"""Admin pages: operations (every service's health) and the audit log."""
from __future__ import annotations

import asyncio

from aiohttp import web

from billing_portal.adapters import audit_store
from billing_portal.entrypoints.web_support import deps, page, require

routes = web.RouteTableDef()
AUDIT_PAGE = 50


@routes.get("/operations")
async def operations(request: web.Request) -> web.Response:
    require(request, "admin")
    clients = deps(request).services.all()
    answers = await asyncio.gather(*(c.health() for c in clients))
    services = [{"name": c.name, "url": c.base_url, **answer} for c, answer in zip(clients, answers)]
    return page(request, "operations.html", {"services": services})


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    require(request, "admin")
    before = request.query.get("before")
    entries = await audit_store.page(deps(request).pool, limit=AUDIT_PAGE + 1,
                                     before_id=int(before) if before and before.isdigit() else None)
    more = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
    return page(request, "audit.html", {"entries": entries[:AUDIT_PAGE], "before": more})
