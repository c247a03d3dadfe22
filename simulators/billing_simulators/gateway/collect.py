"""Collect.js, as the gateway serves it: card or eCheck fields in frames of the gateway's own origin.

The merchant's page loads `/token/Collect.js` with `data-tokenization-key`, calls
`CollectJS.configure({variant: "inline", fields: {...}, callback})` and, when the person pays,
`CollectJS.startPaymentRequest()`. Each field is an iframe served from here; the frames send what was
typed straight to this server, the first frame asks for a token, and the page's callback receives
only the one-time `token` and the masked card (NMI's response shape). Card and account numbers never
pass through the merchant's page or its server.
"""
from __future__ import annotations

import hmac
import json
import time
from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from .methods import TokenizeError, new_token, tokenize_card, tokenize_check
from .state import STATE_KEY

routes = web.RouteTableDef()
HERE = Path(__file__).parent / "collect_assets"
FIELD_NAMES = {"ccnumber", "ccexp", "cvv", "checkaba", "checkaccount", "checkname"}
SESSION_SECONDS = 600
_SESSIONS = web.AppKey("collect_sessions", dict)


def _sessions(request: web.Request) -> dict[str, tuple[float, dict[str, str]]]:
    sessions = request.app[_SESSIONS]
    now = time.monotonic()
    for expired in [s for s, (at, _) in sessions.items() if now - at > SESSION_SECONDS]:
        sessions.pop(expired, None)
    return sessions


def install(app: web.Application) -> None:
    app[_SESSIONS] = {}
    app.router.add_routes(routes)


@routes.get("/token/Collect.js")
async def collect_js(_: web.Request) -> web.Response:
    return web.Response(text=(HERE / "Collect.js").read_text(), content_type="application/javascript",
                        headers={"Cache-Control": "no-cache"})


@routes.get("/token/frame")
async def frame(request: web.Request) -> web.Response:
    field = request.query.get("field", "")
    if field not in FIELD_NAMES:
        raise web.HTTPNotFound()
    return web.Response(text=(HERE / "frame.html").read_text(), content_type="text/html")


@routes.get("/token/frame.js")
async def frame_js(_: web.Request) -> web.Response:
    return web.Response(text=(HERE / "frame.js").read_text(), content_type="application/javascript")


@routes.post("/token/field")
async def store_field(request: web.Request) -> web.Response:
    """A frame hands over what was typed in it, under the payment request's session."""
    body = await _body(request)
    session, field = str(body.get("session", "")), str(body.get("field", ""))
    if not session or field not in FIELD_NAMES:
        return web.json_response({"ok": False, "error": "unknown field"}, status=422)
    sessions = _sessions(request)
    _, fields = sessions.get(session, (0.0, {}))
    fields[field] = str(body.get("value", ""))[:64]
    sessions[session] = (time.monotonic(), fields)
    return web.json_response({"ok": True})


@routes.post("/token/tokenize")
async def tokenize(request: web.Request) -> web.Response:
    """The session's fields become a one-time token; the fields are forgotten at once."""
    state = request.app[STATE_KEY]
    body = await _body(request)
    key = str(body.get("tokenization_key", ""))
    if not hmac.compare_digest(key.encode(), state.config.public_key.encode()):
        return web.json_response({"ok": False, "error": "Invalid tokenization key"}, status=401)
    _, fields = _sessions(request).pop(str(body.get("session", "")), (0.0, {}))
    try:
        if str(body.get("payment_type", "cc")) == "ck":
            method = tokenize_check(fields.get("checkaba", ""), fields.get("checkaccount", ""),
                                    fields.get("checkname", ""), None, None)
        else:
            method = tokenize_card(fields.get("ccnumber", ""), fields.get("ccexp", ""), fields.get("cvv") or None,
                                   today=datetime.now(timezone.utc).date())
    except TokenizeError as exc:
        return web.json_response({"ok": False, "error": str(exc)}, status=422)
    token = new_token()
    state.tokens[token] = method
    described = method.describe(token)
    return web.json_response({
        "ok": True, "tokenType": "inline", "token": token,
        "card": {"number": method.masked_number, "exp": method.exp, "type": method.brand}
        if method.payment_type == "creditcard" else {},
        "check": {"account": method.masked_number, "aba": method.check_aba, "name": method.check_name}
        if method.payment_type == "check" else {},
        "summary": described,
    })


async def _body(request: web.Request) -> dict[str, object]:
    try:
        body = json.loads(await request.text() or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
