"""Autotask read operations: query (id-ordered pages), count, get by id,
children of a parent, entityInformation, the invoice PDF and ThresholdInformation."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .entities import CHILDREN
from .filters import QueryError
from .metadata import entity_information, field_information
from .pdf import tiny_pdf
from .querying import (
    count_matches, decode_cursor, encode_cursor, parse_query_model, select_page,
)
from .routes import ApiRoute
from .state import SimState
from .wire import ApiProblem, json_body


async def _query_body(request: web.Request) -> Any:
    if request.method == "GET":
        search = request.query.get("search")
        if search is None:
            raise ApiProblem(400, "The 'search' parameter is required")
        try:
            return json.loads(search)
        except json.JSONDecodeError:
            raise ApiProblem(400, "The 'search' parameter is not valid JSON") from None
    return await json_body(request)


def _model(state: SimState, entity: str, body: Any):
    cfg = state.config
    return parse_query_model(state.store.table(entity), body, page_size_max=cfg.page_size_max,
                             require_filter=cfg.require_filter,
                             max_or_conditions=cfg.max_or_conditions)


def _page_url(state: SimState, route: ApiRoute, request: web.Request, after: int | None) -> str | None:
    if after is None:
        return None
    url = f"{state.config.own_base}/ATServicesRest/V1.0/{route.entity}/query/next" \
          f"?paging={encode_cursor(route.entity, after)}"
    if request.method == "GET":  # GET paging carries the query along, as AT-DJ expects
        url += "&search=" + quote(request.query["search"], safe="")
    return url


async def query(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    body = await _query_body(request)
    model = _model(state, route.entity, body)
    cursor = decode_cursor(route.entity, request.query["paging"]) \
        if route.next_page and "paging" in request.query else None
    if route.next_page and cursor is None:
        raise QueryError("The 'paging' parameter is required")
    table = state.store.table(route.entity)
    page = select_page(table, model, cursor)
    items = [table.render(row, model.include_fields) for row in page.rows]
    return web.json_response({"items": items, "pageDetails": {
        "count": len(items),
        "requestCount": model.max_records,
        "prevPageUrl": _page_url(state, route, request, page.prev_after),
        "nextPageUrl": _page_url(state, route, request, page.next_after),
    }})


async def count(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    model = _model(state, route.entity, await _query_body(request))
    return web.json_response({"queryCount": count_matches(state.store.table(route.entity), model)})


async def get_one(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    table = state.store.table(route.entity)
    row = table.get(route.row_id)
    if row is not None and route.parent is not None:
        row = row if row.get(CHILDREN[(route.parent, route.entity)]) == route.parent_id else None
    return web.json_response({"item": None if row is None else table.render(row)})


async def list_children(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    table = state.store.table(route.entity)
    parent_field = CHILDREN[(route.parent, route.entity)]
    items = [table.render(row) for row in table.rows_after(None)
             if row.get(parent_field) == route.parent_id]
    return web.json_response({"items": items, "pageDetails": {
        "count": len(items), "requestCount": len(items), "prevPageUrl": None, "nextPageUrl": None}})


async def invoice_pdf(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    """GET /V1.0/Invoices/{id}/InvoicePDF: the real path and response shape are
    unconfirmed [?] (the docs name an "InvoicePdf" special endpoint only).
    Guess: raw application/pdf bytes."""
    row = state.store.table("Invoices").get(route.row_id)
    if row is None:
        raise ApiProblem(404, f"No Invoices record with id {route.row_id}.")
    # Autotask prints the invoice id where no number is set [C: AT-INV].
    number = row.get("invoiceNumber") or str(row["id"])
    lines = [f"Invoice {number}", f"Autotask invoice id {row['id']}",
             f"Company {row.get('companyID')}", f"Total {row.get('invoiceTotal', 0.0):.2f}"]
    return web.Response(body=tiny_pdf(lines), content_type="application/pdf")


async def threshold_information(request: web.Request, state: SimState,
                                route: ApiRoute) -> web.Response:
    # Shape from public clients [T]; timeframe in minutes.
    return web.json_response({
        "externalRequestThreshold": state.config.hourly_limit,
        "requestThresholdTimeframe": 60,
        "currentTimeframeRequestCount": state.requests.hour_count(),
    })


async def entity_info(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    return web.json_response(entity_information(state.store.table(route.entity).spec))


async def field_info(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    spec = state.store.table(route.entity).spec
    required = state.config.ticket_required_fields if spec.name == "Tickets" else spec.required
    return web.json_response(field_information(spec, tuple(required)))


async def udf_info(request: web.Request, state: SimState, route: ApiRoute) -> web.Response:
    # The simulated tenant defines no UDFs; rows may still carry userDefinedFields.
    return web.json_response({"fields": []})
