"""Webhooks as NMI sends them: the JSON envelope, its signature, delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid

import aiohttp
from aiohttp import web

from .config import GatewaySimConfig
from .money import format_amount
from .settlement import Event
from .state import WebhookRecord

log = logging.getLogger("billing_simulators.gateway")

# The client the simulator posts webhooks with, made in app.cleanup_ctx.
HTTP_KEY = web.AppKey("gateway_sim_http", aiohttp.ClientSession)


def envelope(event: Event, config: GatewaySimConfig) -> dict[str, object]:
    """The body of external-apis.md 3.6: one transaction, one action."""
    txn, action, method = event.transaction, event.action, event.transaction.method
    if method.payment_type == "creditcard":
        instrument = {"card": {"cc_number": method.masked_number, "cc_exp": method.exp,
                               "cc_type": method.brand}}
    else:
        instrument = {"check": {"check_account": method.masked_number,
                                "check_aba": method.check_aba, "check_name": method.check_name,
                                "account_holder_type": method.account_holder_type,
                                "account_type": method.account_type, "sec_code": "WEB"}}
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event.event_type,
        "event_body": {
            "merchant": {"id": config.merchant_id, "name": config.merchant_name},
            "features": {"is_test_mode": True},
            "transaction_id": txn.transaction_id,
            "transaction_type": method.transaction_type,
            "condition": txn.condition,
            "processor_id": "simprocessor",
            "order_id": txn.order_id,
            "currency": txn.currency,
            "requested_amount": format_amount(txn.amount),
            "customer_vault_id": txn.customer_vault_id or "",
            **instrument,
            "merchant_defined_fields": {},
            "action": {
                "amount": format_amount(action.amount),
                "action_type": action.action_type,
                "date": action.date,
                "success": "1" if action.success else "0",
                "source": "internal",
                "response_text": action.response_text,
                "response_code": str(action.response_code),
                "processor_response_text": "",
                "processor_response_code": "",
            },
        },
    }


def sign(body: bytes, signing_key: str, nonce: str | None = None) -> str:
    """`t=<nonce>,s=<hex HMAC-SHA256(key, nonce + "." + body)>`; a new nonce each time."""
    nonce = nonce or secrets.token_hex(16)
    digest = hmac.new(signing_key.encode(), nonce.encode() + b"." + body, hashlib.sha256)
    return f"t={nonce},s={digest.hexdigest()}"


async def post(http: aiohttp.ClientSession, url: str, body: bytes, signature: str) -> int | None:
    """POST one delivery; the receiver's status, or None when it is unreachable."""
    headers = {"Content-Type": "application/json", "Webhook-Signature": signature}
    try:
        async with http.post(url, data=body, headers=headers) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        # A receiver that is down must never break settling.
        log.warning("webhook delivery to %s failed: %s", url, type(exc).__name__)
        return None


async def deliver(http: aiohttp.ClientSession, config: GatewaySimConfig,
                  event: Event) -> WebhookRecord:
    payload = envelope(event, config)
    body = json.dumps(payload, separators=(",", ":")).encode()
    record = WebhookRecord(
        event_id=str(payload["event_id"]), event_type=event.event_type,
        transaction_id=event.transaction.transaction_id, body=body.decode(),
        signature=sign(body, config.webhook_signing_key),
    )
    record.status = await post(http, config.webhook_url, body, record.signature)
    return record


async def redeliver(http: aiohttp.ClientSession, config: GatewaySimConfig,
                    record: WebhookRecord) -> WebhookRecord:
    """The gateway's retry: the same body and event_id, a fresh nonce."""
    body = record.body.encode()
    again = WebhookRecord(record.event_id, record.event_type, record.transaction_id,
                          record.body, sign(body, config.webhook_signing_key))
    again.status = await post(http, config.webhook_url, body, again.signature)
    return again
