"""Integrations (admin): the Autotask and QuickBooks Online cards, Test Connection, Sync Now, Delete."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from billing_portal.adapters.services_api import ServiceClient, ServiceError
from billing_portal.domain.integration_forms import FORMS, IntegrationForm, fields_in_error
from billing_portal.domain.messages import sentence
from billing_portal.domain.people import User
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require

routes = web.RouteTableDef()


def _form(request: web.Request) -> IntegrationForm:
    form = FORMS.get(request.match_info["name"])
    if form is None:
        raise web.HTTPNotFound()
    return form


async def _stored(sync: ServiceClient, who: User, name: str) -> dict[str, Any] | None:
    try:
        return await sync.call(who.identity(), "GET", f"/v1/integrations/{name}")
    except ServiceError as exc:
        if exc.status == 404:
            return None
        raise


async def _render(request: web.Request, *, editing: str | None = None, typed: dict[str, str] | None = None,
                  error: ServiceError | None = None, status: int = 200) -> web.Response:
    who = require(request, "admin")
    sync = deps(request).services.sync
    autotask, quickbooks, runs = await asyncio.gather(
        _stored(sync, who, "autotask"), _stored(sync, who, "quickbooks"),
        sync.call(who.identity(), "GET", "/v1/sync/runs", params={"limit": "5"}))
    last_done = next((r for r in runs["items"] if r["status"] == "completed"), None)
    cards = []
    for form, stored in ((FORMS["autotask"], autotask), (FORMS["quickbooks"], quickbooks)):
        mine = editing == form.name
        cards.append({
            "form": form, "stored": stored or {}, "configured": stored is not None,
            "typed": typed if mine and typed else {}, "open": mine or stored is None,
            "error": sentence(error.code, error.message) if mine and error else None,
            "error_message": error.message if mine and error else None,
            "bad_fields": fields_in_error(error.details) if mine and error else set(),
        })
    return page(request, "integrations.html", {
        "cards": cards, "last_run": runs["items"][0] if runs["items"] else None, "last_completed": last_done,
        "watch_run": request.query.get("run")}, status=status)


@routes.get("/integrations")
async def integrations(request: web.Request) -> web.Response:
    return await _render(request)


@routes.post("/integrations/{name:autotask|quickbooks}")
async def save(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = _form(request)
    typed = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    try:
        await deps(request).services.sync.call(who.identity(), "PUT", f"/v1/integrations/{form.name}",
                                               json=form.request_body(typed))
    except ServiceError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        for f in form.fields:  # never send a secret back to the browser
            if f.secret:
                typed.pop(f.name, None)
        return await _render(request, editing=form.name, typed=typed, error=exc, status=exc.status)
    await audit(request, "saved integration settings", form.name)
    raise redirect(request, "/integrations", flash=f"{form.title} settings saved")


@routes.post("/integrations/{name:autotask|quickbooks}/test")
async def test_connection(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = _form(request)
    result = await deps(request).services.sync.call(who.identity(), "POST", f"/v1/integrations/{form.name}/test")
    await audit(request, "tested integration connection", form.name, {"ok": result["ok"]})
    if result["ok"]:
        raise redirect(request, "/integrations", flash=f"{form.title}: connection OK")
    raise redirect(request, "/integrations", ok=False,
                   flash=f"{form.title}: connection failed: {result.get('reason') or 'no reason given'}")


@routes.post("/integrations/sync/runs")
async def sync_now(request: web.Request) -> web.Response:
    who = require(request, "admin")
    started = await deps(request).services.sync.call(who.identity(), "POST", "/v1/sync/runs", json={})
    await audit(request, "started a sync run", started["run_id"])
    note = "Sync started" if started["started"] else "A sync run was already going: showing its progress"
    raise redirect(request, f"/integrations?run={started['run_id']}", flash=note)


@routes.get("/integrations/sync/runs/{run_id}")
async def run_progress(request: web.Request) -> web.Response:
    """The run's progress for the page's live view (JSON: the sync API's own view of the run)."""
    who = require(request, "admin")
    run = await deps(request).services.sync.call(who.identity(), "GET", f"/v1/sync/runs/{request.match_info['run_id']}")
    return web.json_response(run)


@routes.get("/integrations/{name:autotask|quickbooks}/delete")
async def confirm_delete(request: web.Request) -> web.Response:
    require(request, "admin")
    return page(request, "confirm.html", {
        "title": f"Delete the {_form(request).title} integration?",
        "message": "Syncing stops and the credentials are removed. What was synced so far is kept.",
        "action": f"/integrations/{_form(request).name}/delete", "back": "/integrations"})


@routes.post("/integrations/{name:autotask|quickbooks}/delete")
async def delete(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = _form(request)
    await deps(request).services.sync.call(who.identity(), "DELETE", f"/v1/integrations/{form.name}")
    await audit(request, "deleted integration", form.name)
    raise redirect(request, "/integrations", flash=f"{form.title} integration deleted")
