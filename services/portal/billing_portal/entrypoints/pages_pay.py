"""Paying one invoice or several in one sale: the Order Summary, the Pay request (charged once, whatever
the browser repeats), and its result."""
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
MOST_INVOICES = 50  # as many as payments takes in one sale


def _pay_url(invoice_ids: list[str], contact_id: str | None) -> str:
    query = urlencode({"contact_id": contact_id}) if contact_id else ""
    if len(invoice_ids) == 1:
        return f"/invoices/{invoice_ids[0]}/pay" + (f"?{query}" if query else "")
    return "/pay?" + urlencode([("invoice", i) for i in invoice_ids] + ([("contact_id", contact_id)] if contact_id else []))


def _contact(who: User, requested: str | None) -> str | None:
    """A client pays as itself; staff name the contact they assigned."""
    return who.contact_id if who.role == "client" else (requested or None)


def _invoice_ids(request: web.Request, form: dict[str, Any] | None = None) -> list[str]:
    if "invoice_id" in request.match_info:
        return [request.match_info["invoice_id"]]
    chosen = form.get("invoice", []) if form is not None else request.query.getall("invoice", [])
    ids = list(dict.fromkeys(str(i) for i in chosen if str(i).strip()))
    if not ids:
        raise web.HTTPSeeOther("/portal/invoices" if user(request).role == "client" else "/organizations")
    return ids[:MOST_INVOICES]


def with_gateway(response: web.Response, collect_js_url: str) -> web.Response:
    """The Order Summary loads the gateway's script and frames, and nothing else from outside."""
    parts = urlsplit(collect_js_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    response.headers["Content-Security-Policy"] = CSP.replace("script-src 'self'", f"script-src 'self' {origin}") \
        + f"; frame-src {origin}; connect-src 'self'"
    return response


async def _order_summary(request: web.Request, invoice_ids: list[str], *, error: str | None = None,
                         typed: dict[str, str] | None = None, status: int = 200) -> web.Response:
    require(request, "manager", "client")
    who = require_permission(request, "make_payments")
    payments = deps(request).services.payments
    form, *invoices = await asyncio.gather(
        payments.call(who.identity(), "GET", "/v1/payment-form"),
        *(payments.call(who.identity(), "GET", f"/v1/invoices/{i}") for i in invoice_ids))
    organization_id = invoices[0]["organization_id"]
    contact_id = _contact(who, (typed or {}).get("contact_id") or request.query.get("contact_id"))
    wallet = await payments.call(who.identity(), "GET", f"/v1/organizations/{organization_id}/wallet")
    contact_name = None
    if who.role != "client" and contact_id:
        contacts = await deps(request).services.sync.call(
            who.identity(), "GET", f"/v1/organizations/{organization_id}/contacts", params={"limit": "200"})
        contact_name = next((c["name"] for c in contacts["items"] if c["contact_id"] == contact_id), None)
    typed = typed or {}
    response = page(request, "order_summary.html", {
        "invoices": invoices, "invoice": invoices[0], "several": len(invoices) > 1, "form": form,
        "wallet": wallet["items"], "contact_id": contact_id, "contact_name": contact_name,
        "idempotency_key": str(uuid.uuid4()),  # minted with the page: a double click or a resubmit pays once
        "amounts": {i["invoice_id"]: typed.get(f"amount:{i['invoice_id']}") or typed.get("amount") or i["balance"]
                    for i in invoices},
        "payable": all(i["payable"] for i in invoices),
        "action": f"/invoices/{invoice_ids[0]}/pay" if len(invoices) == 1 else "/pay", "error": error,
        "back": f"/organizations/{organization_id}/invoices" if who.role != "client" else "/portal/invoices",
    }, status=status)
    return with_gateway(response, form["collect_js_url"])


@routes.get("/invoices/{invoice_id}/pay")
@routes.get("/pay")
async def order_summary(request: web.Request) -> web.Response:
    return await _order_summary(request, _invoice_ids(request))


@routes.post("/invoices/{invoice_id}/pay")
@routes.post("/pay")
async def pay(request: web.Request) -> web.Response:
    require(request, "manager", "client")
    who = require_permission(request, "make_payments")
    posted = await request.post()
    form = {k: str(v) for k, v in posted.items()}
    invoice_ids = _invoice_ids(request, {"invoice": posted.getall("invoice", [])})
    body: dict[str, Any] = {"contact_id": _contact(who, form.get("contact_id")), "payment_method": _method(form)}
    if len(invoice_ids) == 1:
        body["invoice_id"] = invoice_ids[0]
        if form.get("amount", "").strip():
            body["amount"] = form["amount"].strip()
    else:
        body["invoices"] = [{"invoice_id": i, **({"amount": form[f"amount:{i}"].strip()}
                                                  if form.get(f"amount:{i}", "").strip() else {})}
                            for i in invoice_ids]
    try:
        paid = await deps(request).services.payments.call(
            who.identity(), "POST", "/v1/payments", json=body,
            headers={"Idempotency-Key": form.get("idempotency_key") or str(uuid.uuid4())})
    except ServiceError as exc:
        declined = exc.details.get("payment_id") if exc.code == "card_declined" else None
        if not declined:
            if exc.status >= 500 and exc.code != "gateway_unavailable":
                raise
            return await _order_summary(request, invoice_ids, error=sentence(exc.code, exc.message), typed=form,
                                        status=exc.status)
        paid = {"payment_id": declined}
    await audit(request, "took a payment", paid["payment_id"], {"invoices": invoice_ids})
    if len(invoice_ids) == 1:
        raise web.HTTPSeeOther(f"/invoices/{invoice_ids[0]}/pay/result/{paid['payment_id']}")
    raise web.HTTPSeeOther(f"/pay/result/{paid['payment_id']}")


def _method(form: dict[str, str]) -> dict[str, Any]:
    if form.get("method_id"):
        return {"method_id": form["method_id"]}
    return {"token": form.get("payment_token", ""), "save_to_wallet": form.get("save_to_wallet") == "on"}


@routes.get("/invoices/{invoice_id}/pay/result/{payment_id}")
@routes.get("/pay/result/{payment_id}")
async def result(request: web.Request) -> web.Response:
    who = user(request)
    payment = await deps(request).services.payments.call(who.identity(), "GET",
                                                         f"/v1/payments/{request.match_info['payment_id']}")
    invoice_ids = [request.match_info["invoice_id"]] if "invoice_id" in request.match_info \
        else [a["invoice_id"] for a in payment["applications"]]
    try_again = _pay_url(invoice_ids, payment.get("contact_id") if who.role != "client" else None) if invoice_ids \
        else ("/portal/invoices" if who.role == "client" else "/organizations")
    return page(request, "pay_result.html", {"payment": payment, "try_again": try_again})
