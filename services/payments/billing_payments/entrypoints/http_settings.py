"""Payment-processing settings (admin only; keys write-only and masked)."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal
from billing_shared.web.errors import read_json
from billing_shared.web.routes import ApiRoutes

from billing_payments.domain.settings import SettingsChange
from billing_payments.entrypoints.requests import SettingsRequest
from billing_payments.entrypoints.views import KeysTestView, PaymentFormView, SettingsView
from billing_payments.entrypoints.web_support import deps
from billing_payments.service import settings as settings_service

routes = ApiRoutes()
PATH = "/v1/settings/payment-processing"


@routes.get(PATH, summary="Payment-processing settings, keys masked", roles=("admin",), response=SettingsView)
async def get_settings(request: web.Request) -> web.Response:
    return json_ok(SettingsView.of(await deps(request).settings()))


@routes.put(PATH, summary="Change payment-processing settings; omitted fields keep their value", roles=("admin",),
            body=SettingsRequest, response=SettingsView)
async def put_settings(request: web.Request) -> web.Response:
    body = SettingsRequest.model_validate(await read_json(request))
    change = SettingsChange(
        active=body.active, currency=body.currency,
        accept_payments_in=tuple(body.accept_payments_in) if body.accept_payments_in is not None else None,
        payment_types={k: tuple(v) for k, v in body.payment_types.items()} if body.payment_types is not None else None,
        public_key=body.public_key, private_key=body.private_key, refund_via_gateway=body.refund_via_gateway,
        auto_cancel_unsettled=body.auto_cancel_unsettled,
    )
    return json_ok(SettingsView.of(await settings_service.update(deps(request), change)))


@routes.post(PATH + "/test", summary="Call the gateway with the stored keys", roles=("admin",), response=KeysTestView)
async def test_keys(request: web.Request) -> web.Response:
    ok, reason = await settings_service.test_keys(deps(request))
    return json_ok(KeysTestView(ok=ok, reason=reason))


@routes.get("/v1/payment-form", summary="What a payment page needs for the gateway's hosted fields (public key)",
            roles=("manager", "client"), response=PaymentFormView)
async def payment_form(request: web.Request) -> web.Response:
    d = deps(request)
    s = await d.settings()
    environment = "client_portal" if principal(request).role == "client" else "autotask"
    gateway = (d.config.gateway_public_url or d.config.gateway_base_url).rstrip("/")
    return json_ok(PaymentFormView(
        active=s.active and environment in s.accept_payments_in, environment=environment, currency=s.currency,
        payment_types=list(s.payment_types.get(environment, ())), public_key=s.public_key,
        collect_js_url=f"{gateway}/token/Collect.js"))
