"""`GET /v1/deliveries?type=&status=` (admin): every delivery, newest first, with its outcome."""
from __future__ import annotations

from aiohttp import web

from billing_shared.runtime import RUNTIME
from billing_shared.web.app import json_ok
from billing_shared.web.errors import invalid_request
from billing_shared.web.paging import encode_cursor, page_request
from billing_shared.web.routes import ApiRoutes

from billing_notifications.adapters import delivery_store
from billing_notifications.domain.catalog import NOTIFICATION_TYPES

from .views import DeliveryPage, DeliveryView

routes = ApiRoutes()
STATUSES = ("pending", "delivered", "failed")


@routes.get("/v1/deliveries", summary="Email and ticket deliveries with their status", roles=("admin",),
            response=DeliveryPage)
async def list_deliveries(request: web.Request) -> web.Response:
    kind = request.query.get("type") or None
    if kind is not None and kind not in NOTIFICATION_TYPES:
        raise invalid_request("unknown notification type", {"type": kind, "known_types": list(NOTIFICATION_TYPES)})
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise invalid_request(f"status must be one of {', '.join(STATUSES)}", {"status": status})
    page = page_request(request)
    before = page.after[0] if page.after else None
    if before is not None and not isinstance(before, int):
        raise invalid_request("cursor is not one this API returned")
    async with request.app[RUNTIME].pool.acquire() as conn:
        rows = await delivery_store.page(conn, kind=kind, status=status, limit=page.limit, before_id=before)
    items = rows[: page.limit]
    more = len(rows) > page.limit
    return json_ok(DeliveryPage(items=[DeliveryView.of(r) for r in items],
                                next_cursor=encode_cursor([items[-1]["id"]]) if more else None))
