"""POST /api/transact.php: the Direct Post Payment API."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .payments import Form, refund, sale, validate, void
from .replies import AUTH_FAILED, Reply, key_matches, rejected
from .state import STATE_KEY, SimState
from .vault import vault_operation

OPERATIONS = {"sale": sale, "refund": refund, "void": void, "validate": validate}


def dispatch(state: SimState, form: Form) -> Reply:
    if not key_matches(form, state.config.security_key):
        return AUTH_FAILED
    kind = form.get("type", "")
    vault_op = form.get("customer_vault", "")
    if not kind and not vault_op and form.get("customer_vault_id"):
        # NMI's "Customer Vault initiated Sale" takes no `type` variable at all:
        # a charge of a stored method without one is a sale.
        kind = "sale"
    if vault_op and kind != "sale":
        return vault_operation(state, form, vault_op)
    operation = OPERATIONS.get(kind)
    if operation is None:
        return rejected("Invalid Transaction Type", kind)
    return operation(state, form)


async def handle_transact(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    form = {key: str(value) for key, value in (await request.post()).items()}
    reply = dispatch(state, form)
    if reply.drop:
        # tok_visa_timeout: the gateway did the work but the answer is lost.
        await asyncio.sleep(state.config.timeout_hold_seconds)
        if request.transport is not None:
            request.transport.abort()
        # Writing to the aborted transport fails quietly inside aiohttp, so the
        # client sees "server disconnected" and never a status line.
    return web.Response(text=reply.encode(), content_type="text/html")
