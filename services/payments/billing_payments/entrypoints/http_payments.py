"""Paying, searching and changing payments (CONTRACT.md "Payments API")."""
from __future__ import annotations

import hashlib
import json
from datetime import date

from aiohttp import web
from pydantic import BaseModel

from billing_shared.events.payments import PaymentSnapshot
from billing_shared.web.app import json_ok
from billing_shared.web.auth import Principal, principal, require_permission
from billing_shared.web.errors import invalid_request, not_found, read_json
from billing_shared.web.paging import encode_cursor, page_request, time_and_id_before
from billing_shared.web.routes import ApiRoutes

from billing_payments.adapters import payment_store
from billing_payments.domain.payment import Payment
from billing_payments.entrypoints.requests import ApplyRequest, PayRequest, RefundRequest
from billing_payments.entrypoints.views import PaymentPage
from billing_payments.entrypoints.web_support import acting_contact, deps, refuse_raw_card_data
from billing_payments.service import actions, paying

routes = ApiRoutes()
STATUSES = ("pending", "succeeded", "failed", "cancelled", "charged_back")


@routes.post("/v1/payments", summary="Pay an invoice, or several in one sale (header Idempotency-Key required)",
             roles=("manager", "client"),
             body=PayRequest, response=PaymentSnapshot, status=201)
async def create_payment(request: web.Request) -> web.Response:
    require_permission(request, "make_payments")  # a client whose profile does not allow paying
    raw = await read_json(request)
    refuse_raw_card_data(raw)
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > 255:
        raise invalid_request("the Idempotency-Key header is required (at most 255 characters)")
    body = PayRequest.model_validate(raw)
    who = principal(request)
    contact_id = acting_contact(who, body.contact_id)
    scope = f"{who.role}:{who.organization_id or '*'}:{who.contact_id or '*'}"
    fields = body.model_dump(mode="json")
    if fields["invoices"] is None:  # one invoice: hashed exactly as before the `invoices` form existed
        del fields["invoices"]
    else:
        del fields["invoice_id"], fields["amount"]
    canonical = json.dumps({**fields, "contact_id": contact_id}, sort_keys=True)
    result = await paying.pay(deps(request), paying.PayCommand(
        invoice_id=body.invoice_id or "", amount=body.amount, contact_id=contact_id,
        invoices=tuple(paying.InvoiceAmount(i.invoice_id, i.amount) for i in body.invoices or ()),
        method_id=body.payment_method.method_id, token=body.payment_method.token,
        save_to_wallet=body.payment_method.save_to_wallet,
        environment="client_portal" if who.role == "client" else "autotask",
        caller_organization_id=who.organization_id if who.role == "client" else None,
        idempotency_scope=scope, idempotency_key=key, request_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    ))
    return json_ok(result.body, status=result.status)


@routes.get("/v1/payments", summary="Search payments, newest first", roles=("manager", "client"), response=PaymentPage)
async def search_payments(request: web.Request) -> web.Response:
    who = principal(request)
    q = request.query
    organization_id = _scoped_organization(who, q.get("organization_id") or None)
    status = q.get("status") or None
    if status is not None and status not in STATUSES:
        raise invalid_request(f"status must be one of {', '.join(STATUSES)}", {"status": status})
    page = page_request(request)
    before = time_and_id_before(page)
    after = (before[0], str(before[1])) if before else None
    found = await payment_store.search(
        deps(request).pool, organization_id=organization_id, invoice_id=q.get("invoice_id") or None, status=status,
        from_date=_date(q, "from"), to_date=_date(q, "to"), after=after, limit=page.limit + 1,
    )
    items = found[: page.limit]
    cursor = encode_cursor([items[-1].created_at.isoformat(), items[-1].payment_id]) if len(found) > page.limit else None
    return json_ok(PaymentPage(items=[p.snapshot() for p in items], next_cursor=cursor))


@routes.get("/v1/payments/{payment_id}", summary="A payment with its transaction rows", roles=("manager", "client"),
            response=PaymentSnapshot)
async def get_payment(request: web.Request) -> web.Response:
    return json_ok(await _visible_payment(request))


@routes.post("/v1/payments/{payment_id}/apply",
             summary="Apply unapplied money to another invoice (header Idempotency-Key optional: a retry applies once)",
             roles=("manager",), body=ApplyRequest, response=PaymentSnapshot)
async def apply_payment(request: web.Request) -> web.Response:
    body = ApplyRequest.model_validate(await read_json(request))
    answer = await actions.apply(deps(request), request.match_info["payment_id"], body.invoice_id,
                                 keep_remainder=body.keep_remainder, key=_action_key(request, "apply", body))
    return web.json_response(answer.body, status=answer.status)


@routes.post("/v1/payments/{payment_id}/refund",
             summary="Refund unapplied money, all of it by default (header Idempotency-Key optional: a retry refunds once)",
             roles=("manager",), body=RefundRequest, response=PaymentSnapshot)
async def refund_payment(request: web.Request) -> web.Response:
    body = RefundRequest.model_validate(await read_json(request))
    answer = await actions.refund(deps(request), request.match_info["payment_id"], body.amount,
                                  key=_action_key(request, "refund", body))
    return web.json_response(answer.body, status=answer.status)


@routes.post("/v1/payments/{payment_id}/cancel",
             summary="Cancel a payment: void its unsettled sale, a settled one: see README (header Idempotency-Key optional)",
             roles=("manager",), response=PaymentSnapshot)
async def cancel_payment(request: web.Request) -> web.Response:
    answer = await actions.cancel(deps(request), request.match_info["payment_id"],
                                  key=_action_key(request, "cancel", None))
    # 202: the gateway's answer was lost; the cancel stays recorded (`gateway_reversal: pending`) and the
    # reconciler finishes it
    return web.json_response(answer.body, status=answer.status)


def _action_key(request: web.Request, action: str, body: BaseModel | None) -> actions.ActionKey | None:
    """The caller's Idempotency-Key, if any; the same key with another action, payment or body is refused."""
    if "Idempotency-Key" not in request.headers:
        return None
    key = request.headers["Idempotency-Key"].strip()
    if not key or len(key) > 255:
        raise invalid_request("the Idempotency-Key header must be 1 to 255 characters")
    who = principal(request)
    canonical = json.dumps({"action": action, "payment_id": request.match_info["payment_id"],
                            "body": body.model_dump(mode="json") if body else None}, sort_keys=True)
    return actions.ActionKey(scope=f"{who.role}:{who.organization_id or '*'}:{who.contact_id or '*'}", key=key,
                             request_hash=hashlib.sha256(canonical.encode()).hexdigest())


async def _visible_payment(request: web.Request) -> PaymentSnapshot:
    payment: Payment | None = await payment_store.load(deps(request).pool, request.match_info["payment_id"])
    if payment is None or not principal(request).can_see(payment.organization_id):
        raise not_found("payment")
    return payment.snapshot()


def _scoped_organization(who: Principal, asked: str | None) -> str | None:
    if who.role != "client":
        return asked
    who.check_organization(asked or who.organization_id, "organization")
    return who.organization_id


def _date(query, name: str) -> date | None:  # type: ignore[no-untyped-def]
    value = query.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise invalid_request(f"{name} must be a date like 2026-11-27", {name: value}) from None
