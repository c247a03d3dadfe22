"""An organization's stored payment methods: vault ids and what may be shown, never card numbers."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal, require_permission
from billing_shared.web.errors import not_found, read_json
from billing_shared.web.routes import ApiRoutes

from billing_payments.adapters import directory_store, wallet_store
from billing_payments.entrypoints.requests import WalletAddRequest
from billing_payments.entrypoints.views import WalletMethodView, WalletPage
from billing_payments.entrypoints.web_support import acting_contact, deps, refuse_raw_card_data
from billing_payments.service import wallet

routes = ApiRoutes()
PATH = "/v1/organizations/{organization_id}/wallet"


async def _organization(request: web.Request) -> str:
    """A client's own organization; for staff, one payments knows: an unknown one is a missing id (404),
    never an empty wallet or a method stored for nobody."""
    organization_id = request.match_info["organization_id"]
    principal(request).check_organization(organization_id, "organization")
    if not await directory_store.organization_known(deps(request).pool, organization_id):
        raise not_found("organization")
    return organization_id


@routes.get(PATH, summary="Stored payment methods", roles=("manager", "client"), response=WalletPage)
async def list_methods(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    require_permission(request, "make_payments")  # the wallet is for paying, as adding and removing are
    methods = await wallet_store.list_for(deps(request).pool, organization_id)
    return json_ok(WalletPage(items=[WalletMethodView.of(m) for m in methods]))


@routes.post(PATH, summary="Store a payment method (a gateway token) in the vault", roles=("manager", "client"),
             body=WalletAddRequest, response=WalletMethodView, status=201)
async def add_method(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    require_permission(request, "make_payments")
    raw = await read_json(request)
    refuse_raw_card_data(raw)
    body = WalletAddRequest.model_validate(raw)
    contact_id = acting_contact(principal(request), body.contact_id)
    method = await wallet.add_method(deps(request), organization_id, contact_id, body.token)
    return json_ok(WalletMethodView.of(method), status=201)


@routes.delete(PATH + "/{method_id}", summary="Remove a stored method from the vault and the wallet",
               roles=("manager", "client"), status=204)
async def delete_method(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    require_permission(request, "make_payments")
    method = await wallet_store.get(deps(request).pool, request.match_info["method_id"])
    if method is None or method.organization_id != organization_id:
        raise not_found("payment method")
    await wallet.remove_method(deps(request), method)
    return web.Response(status=204)
