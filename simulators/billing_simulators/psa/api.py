"""The one handler behind every `/ATServicesRest/V1.0/...` path.

Order per call, as a client of the real API would meet it: zone lookups pass
freely (not authenticated, not counted [C: AT-THR]); everything else is
authenticated, counted against the rolling hour, slowed when the hour is past
half its allowance or the entity endpoint is past its thread limit, refused
past the allowance, failed by an injected fault, and only then served.
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from . import reads, writes
from .filters import QueryError
from .routes import ApiRoute, RouteProblem, api_segments, resolve
from .state import STATE, SimState, api_errors
from .values import ValueProblem
from .wire import ApiProblem

HANDLERS = {
    "query": reads.query, "count": reads.count, "get": reads.get_one,
    "children": reads.list_children, "pdf": reads.invoice_pdf,
    "threshold": reads.threshold_information, "create": writes.create, "update": writes.update,
    "entity_info": reads.entity_info, "field_info": reads.field_info, "udf_info": reads.udf_info,
}


def zone_information(request: web.Request, state: SimState) -> web.Response:
    state.requests.zone_lookups += 1
    user = request.query.get("user", "")
    if not user or user.casefold() != state.config.username.casefold():
        # Unknown or blank user: HTTP 500 with a JSON body [T: AT-DJ].
        return api_errors(500, "Zone information could not be determined for the user.")
    base = state.config.zone_base
    return web.json_response({"zoneName": state.config.zone_name, "url": f"{base}/ATServicesRest/",
                              "webUrl": f"{base}/", "ci": 0})


def _authenticated(request: web.Request, state: SimState) -> bool:
    headers, cfg = request.headers, state.config  # header names are case-insensitive
    return (hmac.compare_digest(headers.get("ApiIntegrationCode", "").encode(),
                                cfg.integration_code.encode())
            and headers.get("UserName", "").casefold() == cfg.username.casefold()
            and hmac.compare_digest(headers.get("Secret", "").encode(), cfg.secret.encode()))


async def handle_api(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    segments = api_segments(request.path)
    if segments is None:
        return api_errors(404, "No API resource at this path.")
    try:
        route = resolve(request.method, segments)
    except RouteProblem as problem:
        if _authenticated(request, state):
            return api_errors(problem.status, problem.message)
        route = None
    if route is not None and route.op == "zone":
        return zone_information(request, state)
    if not _authenticated(request, state):
        state.requests.rejected_auth += 1
        return api_errors(401, "Unauthorized: the ApiIntegrationCode, UserName or Secret "
                               "header is missing or wrong.")
    return await _serve(request, state, route)


async def _serve(request: web.Request, state: SimState, route: ApiRoute) -> web.StreamResponse:
    cfg = state.config
    used = state.requests.record(route.entity, route.label)
    with state.requests.in_flight_call(route.entity, cfg.thread_limit) as over_threads:
        delay_ms = cfg.latency_ms
        if over_threads:
            delay_ms += cfg.over_thread_latency_ms
        if used > cfg.hourly_limit / 2:
            delay_ms += cfg.throttle_latency_ms
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if used > cfg.hourly_limit:
            # The real status and text are unpublished [?]; 500 with errors[] here.
            return api_errors(cfg.over_limit_status,
                              f"Request limit exceeded: {used} requests in the last 60 minutes, "
                              f"the threshold is {cfg.hourly_limit}.")
        fault = state.faults.take(route.entity, request.method)
        if fault is not None:
            return api_errors(fault.status, fault.message)
        try:
            return await HANDLERS[route.op](request, state, route)
        except (ApiProblem, RouteProblem) as problem:
            return api_errors(problem.status, problem.message)
        except (QueryError, ValueProblem) as problem:
            return api_errors(500, str(problem))
