"""The middleware in front of the API: latency, rate limit, counting, auth, injected faults.

The order mirrors the real service as seen from outside: a throttled call is refused
before its token is looked at, and an injected fault only hits an authenticated call
(so a token refresh never uses one up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web

from .state import ENTITY_BY_PATH, SIM_STATE, SimState
from .traffic import FaultRule
from .wire import QboError, auth_fault_response, fault_response, invalid, throttle_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MIN_MINOR_VERSION = 75


@web.middleware
async def api_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[SIM_STATE]
    if request.path.startswith("/v3/"):
        return await _guard_api(request, handler, state)
    if request.path.startswith("/oauth2/"):
        return await _guard_oauth(request, handler, state)
    return await handler(request)


async def _guard_api(request: web.Request, handler: Handler, state: SimState) -> web.StreamResponse:
    parts = request.path.split("/")  # ['', 'v3', 'company', realm, segment, ...]
    realm = parts[3] if len(parts) > 3 else ""
    segment = parts[4].lower() if len(parts) > 4 else ""
    await _delay(state)
    if not state.limiter.admit(realm, batch=segment == "batch" and request.method == "POST"):
        state.requests.throttled += 1
        return fault_response(throttle_error())
    state.requests.count(ENTITY_BY_PATH.get(segment, segment), request.method)
    token = request.headers.get("Authorization", "")
    reason = "Token invalid: no bearer token" if not token.startswith("Bearer ") else None
    reason = reason or state.tokens.check_access(token[7:].strip())
    if reason:
        state.requests.unauthorized += 1
        return auth_fault_response(reason)
    if realm != state.config.realm_id:
        return fault_response(
            QboError(
                403, "3100", "ApplicationAuthorizationFailed",
                f"The token does not grant access to company {realm!r}",
                fault_type="AuthorizationFault",
            )
        )
    rule = state.faults.take(request.method, unquote(request.path_qs))
    if rule is not None:
        return _injected_api_fault(rule)
    try:
        _check_minor_version(request)
        return await handler(request)
    except QboError as error:
        return fault_response(error)


async def _guard_oauth(request: web.Request, handler: Handler, state: SimState) -> web.StreamResponse:
    await _delay(state)
    state.requests.count("oauth", request.method)
    rule = state.faults.take(request.method, unquote(request.path_qs))
    if rule is not None:
        error = rule.code if not rule.code.isdigit() else "server_error"
        return web.json_response({"error": error}, status=rule.status)
    return await handler(request)


def _injected_api_fault(rule: FaultRule) -> web.Response:
    if rule.status == 401:
        return auth_fault_response(f"{rule.message} (injected by the simulator)")
    fault_type = "ValidationFault"
    if rule.status == 429:
        fault_type = "ThrottleExceeded"
    elif rule.status >= 500:
        fault_type = "SystemFault"
    return fault_response(
        QboError(
            rule.status, rule.code, rule.message,
            f"{rule.message} (injected by the simulator)", fault_type=fault_type,
        )
    )


def _check_minor_version(request: web.Request) -> None:
    raw = request.query.get("minorversion")
    if raw is None:
        return  # 75 is the default
    if not raw.isdigit() or int(raw) < MIN_MINOR_VERSION:
        raise invalid(
            f"minorversion {raw!r} is not supported; versions 1-74 were discontinued, use 75 or later",
            "minorversion",
        )


async def _delay(state: SimState) -> None:
    if state.config.latency_ms > 0:
        await asyncio.sleep(state.config.latency_ms / 1000)
