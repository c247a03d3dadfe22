"""`GET /v1/deliveries?type=&status=` (admin): every delivery, newest first, with its outcome; and,
beyond the contract, `POST /v1/deliveries/{delivery_id}/retry` (admin): re-drive a failed delivery."""
from __future__ import annotations

import uuid

import structlog
from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.errors import ApiError, invalid_request, not_found
from billing_shared.web.paging import encode_cursor, int_before, page_request
from billing_shared.web.routes import ApiRoutes

from billing_notifications.adapters import delivery_store
from billing_notifications.domain.catalog import NOTIFICATION_TYPES

from .web_support import deps
from .views import DeliveryPage, DeliveryView

log = structlog.get_logger(__name__)
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
    before = int_before(page)
    async with deps(request).pool.acquire() as conn:
        rows = await delivery_store.page(conn, kind=kind, status=status, limit=page.limit, before_id=before)
    items = rows[: page.limit]
    more = len(rows) > page.limit
    return json_ok(DeliveryPage(items=[DeliveryView.of(r) for r in items],
                                next_cursor=encode_cursor([items[-1]["id"]]) if more else None))


@routes.post("/v1/deliveries/{delivery_id}/retry", summary="Re-drive a failed delivery: due again now, with a new "
             "retry window; the same notification (same ticket marker, same email Message-ID)", roles=("admin",),
             response=DeliveryView)
async def retry_delivery(request: web.Request) -> web.Response:
    try:
        delivery_id = uuid.UUID(request.match_info["delivery_id"])
    except ValueError:
        raise not_found("delivery") from None
    async with deps(request).pool.acquire() as conn, conn.transaction():
        before = await delivery_store.redrive(conn, delivery_id)
        if before is None:
            raise not_found("delivery")
        if before != "failed":
            raise ApiError(409, "delivery_not_failed", f"only a failed delivery can be retried; this one is {before}",
                           {"status": before})
        row = await delivery_store.one(conn, delivery_id)
    log.info("failed delivery re-driven", delivery_id=str(delivery_id), notification_id=str(row["notification_id"]),
             channel=row["channel"], last_error=row["last_error"])
    return json_ok(DeliveryView.of(row))
