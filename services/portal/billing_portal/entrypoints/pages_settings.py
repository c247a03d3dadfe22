"""Settings pages (admin): payment processing."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from billing_portal.adapters.services_api import ServiceError
from billing_portal.domain import processing_form
from billing_portal.domain.messages import sentence
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require

routes = web.RouteTableDef()
PROCESSING = "/v1/settings/payment-processing"


def _render(request: web.Request, settings: dict[str, Any], *, error: str | None = None,
            status: int = 200) -> web.Response:
    return page(request, "payment_processing.html", {
        "s": settings, "error": error, "currency_locked": bool(settings.get("currency_locked")),
        "currencies": processing_form.CURRENCIES, "environments": processing_form.ENVIRONMENTS,
        "method_types": processing_form.METHOD_TYPES}, status=status)


async def _stored(request: web.Request) -> dict[str, Any]:
    who = require(request, "admin")
    stored = await deps(request).services.payments.call(who.identity(), "GET", PROCESSING)
    return {**stored, "currency_locked": stored.get("currency") is not None}


@routes.get("/settings/payment-processing")
async def payment_processing(request: web.Request) -> web.Response:
    return _render(request, await _stored(request))


@routes.post("/settings/payment-processing")
async def save_payment_processing(request: web.Request) -> web.Response:
    who = require(request, "admin")
    stored = await _stored(request)
    posted = await request.post()
    form = {key: [str(v) for v in posted.getall(key)] for key in set(posted.keys())}
    body = processing_form.request_body(form, currency_locked=stored["currency_locked"])
    try:
        await deps(request).services.payments.call(who.identity(), "PUT", PROCESSING, json=body)
    except ServiceError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        return _render(request, processing_form.shown(body, stored), error=f"{sentence(exc.code, exc.message)} "
                       f"({exc.message})", status=exc.status)
    await audit(request, "saved payment processing settings", None,
                {k: v for k, v in body.items() if k not in ("public_key", "private_key")}
                | {"keys_changed": sorted(k for k in ("public_key", "private_key") if k in body)})
    raise redirect(request, "/settings/payment-processing", flash="Settings saved")


@routes.post("/settings/payment-processing/test")
async def test_keys(request: web.Request) -> web.Response:
    who = require(request, "admin")
    result = await deps(request).services.payments.call(who.identity(), "POST", PROCESSING + "/test")
    await audit(request, "tested the gateway keys", None, {"ok": result["ok"]})
    if result["ok"]:
        raise redirect(request, "/settings/payment-processing", flash="The gateway accepted the keys")
    raise redirect(request, "/settings/payment-processing", ok=False,
                   flash=f"The gateway refused the keys: {result.get('reason') or 'no reason given'}")
