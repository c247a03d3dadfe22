"""Autotask write operations: create (root or through a parent) and update
(PATCH with changed fields; PUT is treated the same here). Validation failures
answer 500 with errors[], as the real API is reported to [T]."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .entities import CHILDREN, EntitySpec
from .metadata import picklist_problem
from .routes import ApiRoute
from .state import SimState
from .values import ValueProblem, coerce, now_stamp
from .wire import NO_MATCH, ApiProblem, json_body


def _check_references(state: SimState, spec: EntitySpec, values: dict[str, Any]) -> None:
    for name, target in spec.references.items():
        value = values.get(name)
        if value is not None and state.store.table(target).get(value) is None:
            raise ApiProblem(500, f"Value {value} of {name} does not refer to an existing "
                                  f"{target} record.")


def _check_picklists(entity: str, values: dict[str, Any], row: dict[str, Any] | None = None) -> None:
    # An unknown picklist value is refused like any validation failure: 500 with errors[] [T].
    problem = picklist_problem(entity, values, row)
    if problem is not None:
        raise ApiProblem(500, problem)


def _canonical_changes(spec: EntitySpec, body: dict[str, Any]) -> dict[str, Any]:
    """Known fields only, coerced; unknown JSON members are ignored like the .NET API."""
    out: dict[str, Any] = {}
    for name, value in body.items():
        canonical = spec.canonical(name)
        if canonical is None or canonical == "id":
            continue
        try:
            out[canonical] = coerce(spec.fields[canonical], value, canonical)
        except ValueProblem as problem:
            raise ApiProblem(500, str(problem)) from None
    return out


def create_row(state: SimState, entity: str, body: dict[str, Any], *,
               impersonation: int | None) -> dict[str, Any]:
    """A create through the API: required fields, references, the server's stamps."""
    spec = state.store.table(entity).spec
    if not spec.can_create:
        raise ApiProblem(405, f"The {entity} entity cannot be created through the API.")
    fields = {k: v for k, v in _canonical_changes(spec, body).items()
              if k not in spec.read_only and v is not None}
    required = state.config.ticket_required_fields if entity == "Tickets" else spec.required
    missing = [name for name in required if fields.get(name) in (None, "")]
    if missing:
        raise ApiProblem(500, f"Missing required field(s) for {entity}: {', '.join(missing)}.")
    _check_references(state, spec, fields)
    _check_picklists(entity, fields)
    now = now_stamp()
    if entity == "Tickets":
        fields["ticketNumber"] = state.next_ticket_number(now)
        fields["creatorResourceID"] = impersonation or state.config.api_resource_id
        if fields.get("status") == 5:  # 5 = Complete (system value)
            fields.setdefault("completedDate", now)
    return state.store.add(entity, fields, now)


async def create(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiProblem(400, "The request body must be a JSON object")
    if route.parent is not None:
        if state.store.table(route.parent).get(route.parent_id) is None:
            raise ApiProblem(500, f"No {route.parent} record with id {route.parent_id}.")
        body = {**body, CHILDREN[(route.parent, route.entity)]: route.parent_id}
    row = create_row(state, route.entity, body, impersonation=_impersonation(request))
    return web.json_response({"itemId": row["id"]})


async def update(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    """PATCH (changed fields only) and PUT; the id travels in the body [C]."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiProblem(400, "The request body must be a JSON object")
    table = state.store.table(route.entity)
    spec = table.spec
    if not spec.can_update:
        raise ApiProblem(405, f"The {route.entity} entity cannot be updated through the API.")
    row_id = body.get("id")
    if isinstance(row_id, bool) or not isinstance(row_id, int):
        raise ApiProblem(500, "The id of the entity to update is required.")
    row = table.get(row_id)
    if route.parent is not None and row is not None \
            and row.get(CHILDREN[(route.parent, route.entity)]) != route.parent_id:
        row = None
    if row is None:
        raise ApiProblem(500, NO_MATCH)
    changes = _canonical_changes(spec, body)
    for name in changes:
        allowed = name in spec.writable_only if spec.writable_only is not None \
            else name not in spec.read_only
        if not allowed:
            raise ApiProblem(500, f"The field {name} of the {route.entity} entity is read-only.")
    _check_references(state, spec, changes)
    _check_picklists(route.entity, changes, row)
    changes = {k: v for k, v in changes.items() if row.get(k) != v}
    if changes:  # change stamps move only when something changed
        if route.entity == "Tickets" and changes.get("status") == 5:
            changes.setdefault("completedDate", now_stamp())
        state.store.change(route.entity, row, changes, now_stamp())
    return web.json_response({"itemId": row_id})


def _impersonation(request: web.Request) -> int | None:
    value = request.headers.get("ImpersonationResourceId")
    return int(value) if value and value.strip().isdigit() else None
