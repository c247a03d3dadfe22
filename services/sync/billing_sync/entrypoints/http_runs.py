"""`/v1/sync/runs`: start one now (or get the one going), watch its progress."""
from __future__ import annotations

import uuid

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.errors import ApiError, not_found, read_json
from billing_shared.web.paging import encode_cursor, page_request, time_and_id_before
from billing_shared.web.routes import ApiRoutes

from billing_sync.adapters import run_store
from billing_sync.domain.runs import public_progress
from billing_sync.entrypoints.views import RunIn, RunPage, RunStarted, RunView, parse
from billing_sync.entrypoints.web_support import deps
from billing_sync.service.runs import request_run

routes = ApiRoutes()


def run_view(row) -> RunView:  # type: ignore[no-untyped-def]
    return RunView(run_id=str(row["run_id"]), integration=row["integration"], mode=row["mode"],
                   status=row["status"], trigger=row["trigger"], started_at=row["started_at"],
                   finished_at=row["finished_at"], reason=row["reason"],
                   entities=public_progress(row["progress"]),  # type: ignore[arg-type]
                   follow_up_requested=row["rerun_requested"])


@routes.post("/v1/sync/runs", summary="Start a sync run now (or answer the one going)", roles=("admin",),
             body=RunIn, response=RunStarted, status=202)
async def start_run(request: web.Request) -> web.Response:
    d = deps(request)
    body: RunIn = parse(RunIn, await read_json(request))
    psa = await d.connections.autotask()
    if psa is None:
        raise ApiError(409, "integration_not_configured", "set the Autotask integration first")
    run_id, started = await request_run(d, "request", psa.settings.sync_interval_minutes, body.mode)
    follow_up = False
    if not started:
        row = await run_store.get(d.pool, run_id)
        follow_up = bool(row and row["status"] == "running" and row["rerun_requested"])
        d.runs_wake.set()  # the scheduler looks again (a run may have just ended)
    return json_ok(RunStarted(run_id=str(run_id), started=started, follow_up_requested=follow_up), status=202)


@routes.get("/v1/sync/runs/{id}", summary="A sync run and its progress per entity", roles=("admin",),
            response=RunView)
async def get_run(request: web.Request) -> web.Response:
    try:
        run_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise not_found("run") from None
    row = await run_store.get(deps(request).pool, run_id)
    if row is None:
        raise not_found("run")
    return json_ok(run_view(row))


@routes.get("/v1/sync/runs", summary="Sync runs, newest first", roles=("admin",), response=RunPage)
async def list_runs(request: web.Request) -> web.Response:
    page = page_request(request)
    rows = await run_store.recent(deps(request).pool, time_and_id_before(page), page.limit + 1)
    items = rows[: page.limit]
    cursor = encode_cursor([items[-1]["started_at"].isoformat(), str(items[-1]["run_id"])]) \
        if len(rows) > page.limit else None
    return json_ok(RunPage(items=[run_view(r) for r in items], next_cursor=cursor))
