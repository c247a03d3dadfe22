"""Paying an invoice: the Order Summary, the Pay request (charged once, whatever the browser repeats),
and its result."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from billing_portal.adapters.services_api import ServiceError
from billing_portal.domain.messages import sentence
from billing_portal.domain.people import User
from billing_portal.entrypoints.web_support import CSP, audit, deps, page, require, require_permission, user

routes = web.RouteTableDef()


def _pay_url(invoice_id: str, contact_id: str | None) -> str:
    query = f"?{urlencode({'contact_id': contact_id})}" if contact_id else ""
    return f"/invoices/{invoice_id}/pay{query}"


def _contact(who: User, requested: str | None) -> str | None:
    """A client pays as itself; staff name the contact they assigned."""
    return who.contact_id if who.role == "client" else (requested or None)


def with_gateway(response: web.Response, collect_js_url: str) -> web.Response:
    """The Order Summary loads the gateway's script and frames, and nothing else from outside."""
    parts = urlsplit(collect_js_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    response.headers["Content-Security-Policy"] = CSP.replace("script-src 'self'", f"script-src 'self' {origin}") \
        + f"; frame-src {origin}; connect-src 'self'"
    return response


async def _order_summary(request: web.Request, *, error: str | None = None, typed: dict[str, str] | None = None,
                         status: int = 200) -> web.Response:
    require(request, "manager", "client")
    who = require_permission(request, "make_payments")
    invoice_id = request.match_info["invoice_id"]
    payments = deps(request).services.payments
    invoice, form = await asyncio.gather(
        payments.call(who.identity(), "GET", f"/v1/invoices/{invoice_id}"),
        payments.call(who.identity(), "GET", "/v1/payment-form"))
    contact_id = _contact(who, (typed or {}).get("contact_id") or request.query.get("contact_id"))
    wallet = await payments.call(who.identity(), "GET", f"/v1/organizations/{invoice['organization_id']}/wallet")
    contact_name = None
    if who.role != "client" and contact_id:
        contacts = await deps(request).services.sync.call(
            who.identity(), "GET", f"/v1/organizations/{invoice['organization_id']}/contacts", params={"limit": "200"})
        contact_name = next((c["name"] for c in contacts["items"] if c["contact_id"] == contact_id), None)
    response = page(request, "order_summary.html", {
        "invoice": invoice, "form": form, "wallet": wallet["items"], "contact_id": contact_id,
        "contact_name": contact_name,
        "idempotency_key": str(uuid.uuid4()),  # minted with the page: a double click or a resubmit pays once
        "amount": (typed or {}).get("amount") or invoice["balance"], "error": error,
        "back": f"/organizations/{invoice['organization_id']}/invoices" if who.role != "client" else "/portal/invoices",
    }, status=status)
    return with_gateway(response, form["collect_js_url"])


@routes.get("/invoices/{invoice_id}/pay")
async def order_summary(request: web.Request) -> web.Response:
    return await _order_summary(request)


@routes.post("/invoices/{invoice_id}/pay")
async def pay(request: web.Request) -> web.Response:
    require(request, "manager", "client")
    who = require_permission(request, "make_payments")
    invoice_id = request.match_info["invoice_id"]
    form = {k: str(v) for k, v in (await request.post()).items()}
    contact_id = _contact(who, form.get("contact_id"))
    body: dict[str, Any] = {"invoice_id": invoice_id, "contact_id": contact_id, "payment_method": _method(form)}
    if form.get("amount", "").strip():
        body["amount"] = form["amount"].strip()
    try:
        paid = await deps(request).services.payments.call(
            who.identity(), "POST", "/v1/payments", json=body,
            headers={"Idempotency-Key": form.get("idempotency_key") or str(uuid.uuid4())})
    except ServiceError as exc:
        declined = exc.details.get("payment_id") if exc.code == "card_declined" else None
        if not declined:
            if exc.status >= 500 and exc.code != "gateway_unavailable":
                raise
            return await _order_summary(request, error=sentence(exc.code, exc.message), typed=form,
                                        status=exc.status)
        paid = {"payment_id": declined}
    await audit(request, "took a payment", paid["payment_id"], {"invoice_id": invoice_id})
    raise web.HTTPSeeOther(f"/invoices/{invoice_id}/pay/result/{paid['payment_id']}")


def _method(form: dict[str, str]) -> dict[str, Any]:
    if form.get("method_id"):
        return {"method_id": form["method_id"]}
    return {"token": form.get("payment_token", ""), "save_to_wallet": form.get("save_to_wallet") == "on"}


@routes.get("/invoices/{invoice_id}/pay/result/{payment_id}")
async def result(request: web.Request) -> web.Response:
    who = user(request)
    payment = await deps(request).services.payments.call(who.identity(), "GET",
                                                         f"/v1/payments/{request.match_info['payment_id']}")
    invoice_id = request.match_info["invoice_id"]
    return page(request, "pay_result.html", {
        "payment": payment, "invoice_id": invoice_id,
        "try_again": _pay_url(invoice_id, payment.get("contact_id") if who.role != "client" else None)})
