"""The /_sim/ control surface (CONTRACT.md "Simulator control"): look at what
clients wrote back, change rows as a PSA user would, count requests, inject
faults, tune settings. Not part of the real API; never authenticated, never
counted. Seeding lives in seeding.py. A paid date changed by hand (reconciliation's
`psa_paid_date_differs`): `PATCH /_sim/invoices/{id}` `{"paidDate": null}` or a date.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .config import PsaSimConfig
from .seeding import SeedProblem, collection_of, read_body, seed_bulk, seed_one
from .state import STATE, SimState, sim_error
from .usage import Fault
from .values import ValueProblem, coerce, now_stamp


def _matches_query(row: dict[str, Any], params: dict[str, str], spec) -> bool:
    for name, wanted in params.items():
        canonical = spec.canonical(name)
        if canonical is not None and str(row.get(canonical)).lower() != wanted.lower():
            return False
    return True


async def list_rows(request: web.Request) -> web.Response:
    """A plain JSON array; `?field=value` keeps rows whose field equals value."""
    state = request.app[STATE]
    table = state.store.table(collection_of(request))
    params = dict(request.query)
    return web.json_response([table.render(row) for row in table.rows_after(None)
                              if _matches_query(row, params, table.spec)])


def _row_or_404(state: SimState, entity: str, request: web.Request) -> dict[str, Any]:
    raw = request.match_info["id"]
    row = state.store.table(entity).get(int(raw)) if raw.isdigit() else None
    if row is None:
        raise web.HTTPNotFound(text=json.dumps({"error": {
            "code": "not_found", "message": f"no {entity} {raw}", "details": {}}}),
            content_type="application/json")
    return row


async def get_row(request: web.Request) -> web.Response:
    state = request.app[STATE]
    entity = collection_of(request)
    return web.json_response(state.store.table(entity).render(_row_or_404(state, entity, request)))


async def patch_row(request: web.Request) -> web.Response:
    """Change a row as a PSA user would (any field but id); stamps change fields."""
    state = request.app[STATE]
    entity = collection_of(request)
    row = _row_or_404(state, entity, request)
    spec = state.store.table(entity).spec
    try:
        body = await read_body(request)
        changes = {}
        for name, value in (body or {}).items():
            canonical = spec.canonical(name)
            if canonical is None or canonical == "id":
                raise SeedProblem(f"unknown or fixed field {name}")
            changes[canonical] = coerce(spec.fields[canonical], value, canonical)
        state.store.change(entity, row, changes, now_stamp())
    except (SeedProblem, ValueProblem) as problem:
        return sim_error(422, "invalid_request", str(problem))
    return web.json_response(state.store.table(entity).render(row))


async def void_invoice(request: web.Request) -> web.Response:
    state = request.app[STATE]
    row = _row_or_404(state, "Invoices", request)
    row["isVoided"] = True
    row["voidedDate"] = now_stamp()  # Invoices have no modified stamp to move [C]
    return web.json_response(state.store.table("Invoices").render(row))


async def requests_view(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].requests.snapshot())


async def requests_clear(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.requests = type(state.requests)(state.requests.clock)
    return web.json_response(state.requests.snapshot())


async def add_fault(request: web.Request) -> web.Response:
    """{"entity", "method", "status", "message", "count"}: the next `count`
    matching API calls answer `status` with {"errors": [message]}."""
    state = request.app[STATE]
    try:
        body = await read_body(request)
        status = int(body.get("status", 500))
        count = int(body.get("count", 1))
        if not 100 <= status <= 599 or count < 1:
            raise SeedProblem("status must be an HTTP status and count >= 1")
        fault = Fault(status=status, count=count,
                      message=str(body.get("message") or "Simulated fault"),
                      entity=body.get("entity"), method=body.get("method"))
    except (SeedProblem, ValueError, TypeError, AttributeError) as problem:
        return sim_error(422, "invalid_request", str(problem))
    state.faults.add(fault)
    return web.json_response(fault.view(), status=201)


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([f.view() for f in request.app[STATE].faults.pending])


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return web.json_response([])


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return web.json_response({"ok": True})


async def config_view(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE].config.public_view())


async def config_update(request: web.Request) -> web.Response:
    """Change runtime knobs (PsaSimConfig.TUNABLE), e.g. a small hourly_limit."""
    state = request.app[STATE]
    try:
        body = await read_body(request)
        if not isinstance(body, dict):
            raise SeedProblem("config body must be an object")
        bad = set(body) - set(PsaSimConfig.TUNABLE)
        if bad:
            raise SeedProblem(f"not tunable: {sorted(bad)}")
        changes = {name: _like(getattr(state.config, name), value) for name, value in body.items()}
    except (SeedProblem, TypeError, ValueError) as problem:
        return sim_error(422, "invalid_request", str(problem))
    for name, value in changes.items():
        setattr(state.config, name, value)
    return web.json_response(state.config.public_view())


def _like(current: Any, value: Any) -> Any:
    """Keep a knob's type: "6" for an int knob becomes 6; bools stay strict."""
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise SeedProblem(f"expected true or false, got {value!r}")
        return value
    if isinstance(current, int):
        return int(value)
    return value


def add_routes(app: web.Application) -> None:
    app.router.add_post("/_sim/bulk", seed_bulk)
    app.router.add_get("/_sim/requests", requests_view)
    app.router.add_delete("/_sim/requests", requests_clear)
    app.router.add_post("/_sim/faults", add_fault)
    app.router.add_get("/_sim/faults", list_faults)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/config", config_view)
    app.router.add_post("/_sim/config", config_update)
    app.router.add_post("/_sim/invoices/{id}/void", void_invoice)
    app.router.add_post("/_sim/{collection}", seed_one)
    app.router.add_get("/_sim/{collection}", list_rows)
    app.router.add_get("/_sim/{collection}/{id}", get_row)
    app.router.add_patch("/_sim/{collection}/{id}", patch_row)
