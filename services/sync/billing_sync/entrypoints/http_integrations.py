"""`/v1/integrations/{autotask,quickbooks}`: settings (secrets write-only, masked), test, delete."""
from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.errors import ApiError, invalid_request, not_found, read_json
from billing_shared.web.routes import ApiRoutes

from billing_sync.adapters import integration_store, run_store
from billing_sync.adapters.connections import autotask_settings, quickbooks_settings
from billing_sync.domain.integrations import AUTOTASK, QUICKBOOKS, AutotaskSettings, QuickBooksSettings
from billing_sync.entrypoints.views import AutotaskIn, AutotaskView, QuickBooksIn, QuickBooksView, TestResult, parse
from billing_sync.entrypoints.web_support import deps
from billing_sync.service.connection_test import test_connection
from billing_sync.service.deps import Deps

routes = ApiRoutes()


def _deps(request: web.Request) -> Deps:
    d = deps(request)
    if d.box is None:
        raise ApiError(503, "secrets_unavailable", "SECRETS_KEY is not set: integration secrets cannot be stored")
    return d


async def _stored(d: Deps, name: str) -> integration_store.StoredIntegration | None:
    return await integration_store.load(d.pool, d.connections.require_box(), name)


def _split(settings: object) -> tuple[dict, dict]:
    values = asdict(settings)  # type: ignore[call-overload]
    secret_keys = {"secret", "client_secret", "refresh_token"}
    return ({k: v for k, v in values.items() if k not in secret_keys},
            {k: v for k, v in values.items() if k in secret_keys})


@routes.put("/v1/integrations/autotask", summary="Set the Autotask integration", roles=("admin",),
            body=AutotaskIn, response=AutotaskView)
async def put_autotask(request: web.Request) -> web.Response:
    d = _deps(request)
    body: AutotaskIn = parse(AutotaskIn, await read_json(request))
    stored = await _stored(d, AUTOTASK)
    secret = body.secret or (stored.secrets.get("secret") if stored else None)
    if not secret:
        raise invalid_request("secret is required", {"field": "secret"})
    settings = AutotaskSettings(**body.model_dump(exclude={"secret"}), secret=secret)
    return await _save(d, AUTOTASK, settings)


async def _save(d: Deps, name: str, settings: AutotaskSettings | QuickBooksSettings) -> web.Response:
    """Store an integration's settings (secrets sealed) and tell the scheduler. A run going now reads
    QuickBooks when its accounting steps begin; a change it can no longer take in is followed by
    another run as soon as it ends (the rerun flag goes first: see run_store.lock_running)."""
    shown, secrets = _split(settings)
    async with d.uow.begin() as tx:
        await run_store.request_rerun(tx.conn, AUTOTASK)
        await integration_store.save(tx.conn, d.connections.require_box(), name, shown, secrets)
    d.runs_wake.set()
    return json_ok(settings.shown())


@routes.get("/v1/integrations/autotask", summary="The Autotask integration (secret masked)", roles=("admin",),
            response=AutotaskView)
async def get_autotask(request: web.Request) -> web.Response:
    stored = await _stored(_deps(request), AUTOTASK)
    if stored is None:
        raise not_found("integration")
    return json_ok(autotask_settings(stored).shown())


@routes.put("/v1/integrations/quickbooks", summary="Set the QuickBooks Online integration", roles=("admin",),
            body=QuickBooksIn, response=QuickBooksView)
async def put_quickbooks(request: web.Request) -> web.Response:
    d = _deps(request)
    body: QuickBooksIn = parse(QuickBooksIn, await read_json(request))
    stored = await _stored(d, QUICKBOOKS)
    kept = stored.secrets if stored else {}
    client_secret = body.client_secret or kept.get("client_secret")
    refresh_token = body.refresh_token or kept.get("refresh_token")
    given = {"client_secret": client_secret, "refresh_token": refresh_token}
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise invalid_request(f"{', '.join(missing)} required", {"fields": missing})
    settings = QuickBooksSettings(**body.model_dump(exclude={"client_secret", "refresh_token"}),
                                  client_secret=client_secret or "", refresh_token=refresh_token or "")
    try:
        d.connections.token_url(settings)
    except ValueError as exc:
        raise invalid_request(str(exc), {"field": "base_url"}) from None
    return await _save(d, QUICKBOOKS, settings)


@routes.get("/v1/integrations/quickbooks", summary="The QuickBooks integration (secrets masked)", roles=("admin",),
            response=QuickBooksView)
async def get_quickbooks(request: web.Request) -> web.Response:
    stored = await _stored(_deps(request), QUICKBOOKS)
    if stored is None:
        raise not_found("integration")
    return json_ok(quickbooks_settings(stored).shown())


@routes.delete("/v1/integrations/{name}", summary="Delete an integration: stops its runs, removes credentials, "
               "keeps history", roles=("admin",), status=204)
async def delete_integration(request: web.Request) -> web.Response:
    d = _deps(request)
    name = request.match_info["name"]
    if name not in (AUTOTASK, QUICKBOOKS):
        raise not_found("integration")
    async with d.uow.begin() as tx:
        if name == AUTOTASK:
            await run_store.cancel_running(tx.conn, AUTOTASK, "the Autotask integration was deleted")
        else:
            await run_store.request_rerun(tx.conn, AUTOTASK)  # the run going on may still use it
        if not await integration_store.delete(tx.conn, name):
            raise not_found("integration")
    d.runs_wake.set()
    return web.Response(status=204)


@routes.post("/v1/integrations/{name}/test", summary="Test the stored credentials", roles=("admin",),
             response=TestResult)
async def test_integration(request: web.Request) -> web.Response:
    d = _deps(request)
    name = request.match_info["name"]
    if name not in (AUTOTASK, QUICKBOOKS):
        raise not_found("integration")
    result = await test_connection(d, name)
    if result is None:
        raise not_found("integration")
    ok, reason = result
    return json_ok(TestResult(ok=ok, reason=reason).model_dump(exclude_none=True))
