"""Staff pages: organizations and their Invoice History."""
from __future__ import annotations

from aiohttp import web

from billing_portal.entrypoints.web_support import deps, page, require

routes = web.RouteTableDef()


@routes.get("/organizations")
async def organizations(request: web.Request) -> web.Response:
    who = require(request, "manager")
    params = {"limit": "50", **({"cursor": request.query["cursor"]} if request.query.get("cursor") else {})}
    listed = await deps(request).services.sync.call(who.identity(), "GET", "/v1/organizations", params=params)
    search = request.query.get("q", "").strip().lower()
    items = [o for o in listed["items"] if search in o["name"].lower()] if search else listed["items"]
    return page(request, "organizations.html", {"organizations": items, "q": request.query.get("q", ""),
                                                "next_cursor": listed["next_cursor"]})
