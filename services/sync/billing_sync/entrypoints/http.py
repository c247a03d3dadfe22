"""Sync's HTTP API (CONTRACT.md "Sync API")."""
from __future__ import annotations

from aiohttp import web

from billing_shared.runtime import RUNTIME
from billing_shared.web.app import json_ok
from billing_shared.web.paging import next_cursor, page_request
from billing_shared.web.routes import ApiRoutes

routes = ApiRoutes()


@routes.get("/v1/organizations", summary="Mirrored organizations", roles=("manager",))
async def list_organizations(request: web.Request) -> web.Response:
    page = page_request(request)
    after = page.after[0] if page.after else ""
    rows = await request.app[RUNTIME].pool.fetch(
        """SELECT organization_id, name, active, default_contact_id FROM organizations
           WHERE organization_id > $1 ORDER BY organization_id LIMIT $2""",
        after, page.limit + 1,
    )
    return json_ok({
        "items": [dict(r) for r in rows[: page.limit]],
        "next_cursor": next_cursor(rows, page.limit, lambda r: [r["organization_id"]]),
    })
