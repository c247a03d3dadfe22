"""The /_sim/ control surface: tokenizing, settling, inspecting, resetting.

Not part of the real gateway; demo and tests only (CONTRACT.md).
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime, timezone

from aiohttp import web

from .methods import PaymentMethod, TokenizeError, new_token, tokenize_card, tokenize_check
from .money import parse_amount
from .settlement import chargeback, settle_pending
from .state import PENDING, STATE_KEY, Action, Transaction
from .webhooks import HTTP_KEY, deliver, redeliver

routes = web.RouteTableDef()


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, "details": {}}},
                             status=status)


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPUnprocessableEntity(text='{"error": {"code": "invalid_request", '
                                               '"message": "body is not JSON", "details": {}}}',
                                          content_type="application/json") from None
    return body if isinstance(body, dict) else {}


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.post("/_sim/tokens")
async def create_token(request: web.Request) -> web.Response:
    """What Collect.js does in the browser: card or account data in, token out."""
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    given_key = str(body.get("tokenization_key", state.config.public_key))
    if not hmac.compare_digest(given_key.encode(), state.config.public_key.encode()):
        return _error(401, "unauthorized", "wrong tokenization key")
    try:
        if body.get("ccnumber"):
            method = tokenize_card(str(body["ccnumber"]), str(body.get("ccexp", "")),
                                   None if body.get("cvv") is None else str(body["cvv"]),
                                   today=datetime.now(timezone.utc).date())
        elif body.get("checkaccount"):
            method = tokenize_check(str(body.get("checkaba", "")), str(body["checkaccount"]),
                                    str(body.get("checkname", "")), body.get("account_type"),
                                    body.get("account_holder_type"))
        else:
            return _error(422, "invalid_request", "give ccnumber/ccexp or checkaba/checkaccount")
    except TokenizeError as exc:
        return _error(422, "invalid_request", str(exc))
    token = new_token()
    state.tokens[token] = method
    return web.json_response(method.describe(token))


@routes.get("/_sim/transactions")
async def list_transactions(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response([txn.to_json() for txn in state.transactions.values()])


@routes.get("/_sim/webhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    return web.json_response([hook.to_json() for hook in request.app[STATE_KEY].webhooks])


@routes.post("/_sim/settle")
async def settle(request: web.Request) -> web.Response:
    """Settle everything pending (or `{"transaction_ids": [...]}`), send webhooks."""
    state = request.app[STATE_KEY]
    only = (await _json_body(request)).get("transaction_ids")
    settled, events = settle_pending(state, None if only is None else set(map(str, only)))
    records = []
    for event in events:
        record = await deliver(request.app[HTTP_KEY], state.config, event)
        state.webhooks.append(record)
        records.append(record)
    return web.json_response({
        "settled": settled,
        "webhooks": [{"event_id": r.event_id, "event_type": r.event_type,
                      "transaction_id": r.transaction_id, "status": r.status} for r in records],
    })


@routes.post("/_sim/transactions")
async def sale_made_elsewhere(request: web.Request) -> web.Response:
    """A sale made outside billing-link, e.g. in the gateway's own virtual terminal (`{"amount", "order_id"?,
    "currency"?}`): approved, pending settlement, no webhook. Reconciliation finds it."""
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    amount = parse_amount(str(body.get("amount", "")))
    if amount is None or amount <= 0:
        return _error(422, "invalid_request", "amount must be a positive amount like 12.34")
    method = PaymentMethod(payment_type="creditcard", last4="1111", masked_number="4xxxxxxxxxxx1111",
                           brand="visa", exp="1230")
    txn = Transaction(transaction_id=state.new_transaction_id(), order_id=str(body.get("order_id") or ""),
                      type="sale", amount=amount, currency=str(body.get("currency") or "USD"), method=method,
                      condition=PENDING)
    txn.actions.append(Action("sale", amount, True, "SUCCESS", 100))
    state.transactions[txn.transaction_id] = txn
    return web.json_response(txn.to_json(), status=201)


@routes.post("/_sim/transactions/{transaction_id}/void")
async def voided_elsewhere(request: web.Request) -> web.Response:
    """Void a transaction in the gateway's own interface, behind billing-link's back: no webhook."""
    txn = request.app[STATE_KEY].transactions.get(request.match_info["transaction_id"])
    if txn is None:
        return _error(404, "not_found", "no such transaction")
    if txn.condition == "canceled":
        return _error(409, "invalid_request", "already voided")
    txn.condition = "canceled"
    txn.actions.append(Action("void", txn.amount, True, "Transaction Void Successful", 100))
    return web.json_response(txn.to_json())


@routes.post("/_sim/transactions/{transaction_id}/chargeback")
async def charge_back(request: web.Request) -> web.Response:
    """Report a chargeback (`{"amount"}` optional, the whole sale by default)."""
    state = request.app[STATE_KEY]
    txn = state.transactions.get(request.match_info["transaction_id"])
    if txn is None or txn.type != "sale":
        return _error(404, "not_found", "no such sale")
    if not txn.actions[0].success or txn.condition == "canceled":
        return _error(409, "invalid_request", "only approved, uncancelled sales can be charged back")
    given = (await _json_body(request)).get("amount")
    amount = txn.amount if given is None else parse_amount(str(given))
    if amount is None or amount > txn.amount:
        return _error(422, "invalid_request", "amount must be positive and at most the sale")
    record = await deliver(request.app[HTTP_KEY], state.config, chargeback(txn, amount))
    state.webhooks.append(record)
    return web.json_response({"webhooks": [{"event_id": record.event_id,
                                            "event_type": record.event_type,
                                            "transaction_id": record.transaction_id,
                                            "status": record.status}]})


@routes.post("/_sim/webhooks/{event_id}/redeliver")
async def redeliver_webhook(request: web.Request) -> web.Response:
    """Send a webhook again as the gateway's retry would: same event_id, new nonce."""
    state = request.app[STATE_KEY]
    original = next((h for h in state.webhooks if h.event_id == request.match_info["event_id"]), None)
    if original is None:
        return _error(404, "not_found", "no such webhook")
    record = await redeliver(request.app[HTTP_KEY], state.config, original)
    state.webhooks.append(record)
    return web.json_response(record.to_json())


@routes.post("/_sim/reset")
async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


@routes.get("/_sim/config")
async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].config.public_view())


@routes.put("/_sim/config")
async def put_config(request: web.Request) -> web.Response:
    """Change latency_ms, timeout_hold_seconds, webhook_url or refund_requires_settlement."""
    config = request.app[STATE_KEY].config
    body = await _json_body(request)
    try:
        if "latency_ms" in body:
            config.latency_ms = max(int(body["latency_ms"]), 0)
        if "timeout_hold_seconds" in body:
            config.timeout_hold_seconds = max(float(body["timeout_hold_seconds"]), 0.0)
        if "webhook_url" in body:
            config.webhook_url = str(body["webhook_url"])
        if "refund_requires_settlement" in body:
            config.refund_requires_settlement = bool(body["refund_requires_settlement"])
    except (TypeError, ValueError):
        return _error(422, "invalid_request", "bad config value")
    return web.json_response(config.public_view())
