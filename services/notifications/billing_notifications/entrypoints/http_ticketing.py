"""Connect to Ticketing (admin): the PSA connection tickets are created with, stored sealed, and the
tenant's ticket picklists (queues, issue types, priorities) for the Service Ticket Configuration."""
from __future__ import annotations

import asyncio

from aiohttp import web

from billing_shared.psa import PsaError
from billing_shared.web.app import json_ok
from billing_shared.web.errors import ApiError, invalid_request, not_found, read_json
from billing_shared.web.routes import ApiRoutes

from billing_notifications.adapters import connection_store
from billing_notifications.domain.connection import PsaCredentials

from .views import Choice, ConnectionTest, TicketingChoices, TicketingConnectionIn, TicketingConnectionView
from .web_support import deps

routes = ApiRoutes()
PATH = "/v1/settings/ticketing/connection"


@routes.get(PATH, summary="The PSA connection tickets are created with (secret masked)", roles=("admin",),
            response=TicketingConnectionView)
async def get_connection(request: web.Request) -> web.Response:
    credentials = await deps(request).desks.credentials()
    if credentials is None:
        raise not_found("ticketing connection")
    return json_ok(credentials.shown())


@routes.put(PATH, summary="Connect to Ticketing: store the PSA credentials (sealed)", roles=("admin",),
            body=TicketingConnectionIn, response=TicketingConnectionView)
async def put_connection(request: web.Request) -> web.Response:
    d = deps(request)
    if d.box is None:
        raise ApiError(503, "secrets_unavailable", "SECRETS_KEY is not set: the PSA secret cannot be stored")
    body = TicketingConnectionIn.model_validate(await read_json(request))
    stored = await connection_store.load(d.pool, d.box)
    secret = body.secret or (stored.secret if stored else None)
    if not secret:
        raise invalid_request("secret is required", {"fields": {"secret": "required the first time"}})
    credentials = PsaCredentials(username=body.username, secret=secret, integration_code=body.integration_code,
                                 base_url=body.base_url)
    await connection_store.save(d.pool, d.box, credentials)
    d.desks.forget()
    return json_ok(credentials.shown())


@routes.delete(PATH, summary="Forget the stored PSA connection (the PSA_* environment applies again)",
               roles=("admin",), status=204)
async def delete_connection(request: web.Request) -> web.Response:
    d = deps(request)
    if not await connection_store.delete(d.pool):
        raise not_found("ticketing connection")
    d.desks.forget()
    return web.Response(status=204)


@routes.post(PATH + "/test", summary="Call the PSA with the ticketing connection", roles=("admin",),
             response=ConnectionTest)
async def test_connection(request: web.Request) -> web.Response:
    client = await deps(request).desks.client()
    if client is None:
        return json_ok(ConnectionTest(ok=False, reason="no PSA connection is configured"))
    try:
        await client.picklist("Tickets", "priority")
    except PsaError as exc:
        return json_ok(ConnectionTest(ok=False, reason=str(exc)))
    return json_ok(ConnectionTest(ok=True))


@routes.get("/v1/settings/ticketing/choices", summary="The tenant's ticket queues, issue types and priorities",
            roles=("admin",), response=TicketingChoices)
async def ticketing_choices(request: web.Request) -> web.Response:
    client = await deps(request).desks.client()
    if client is None:
        raise ApiError(409, "ticketing_not_connected", "connect to ticketing first: no PSA connection is configured")
    try:
        queues, issue_types, priorities = await asyncio.gather(*(
            client.picklist("Tickets", field) for field in ("queueID", "issueType", "priority")))
    except PsaError as exc:
        raise ApiError(502, "psa_unavailable", f"the PSA did not give its picklists: {exc}") from None

    def choices(values) -> list[Choice]:  # type: ignore[no-untyped-def]
        return [Choice(value=v.value, label=v.label, is_default=v.is_default) for v in values]

    return json_ok(TicketingChoices(queues=choices(queues), issue_types=choices(issue_types),
                                    priorities=choices(priorities)))
