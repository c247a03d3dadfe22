"""Payment Search and View Payment Details, with Apply, Refund and Cancel payment (each confirmed)."""
from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from billing_portal.adapters.services_api import ServiceError
from billing_portal.domain.messages import sentence
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require, user

routes = web.RouteTableDef()
FILTERS = ("organization_id", "status", "from", "to")
STATUSES = ("pending", "succeeded", "failed", "cancelled", "charged_back")
ACTIONS = {
    "apply": ("Apply", "Apply the unapplied money to another invoice?", "applied the payment"),
    "refund": ("Refund", "Refund the unapplied money?", "refunded the payment"),
    "cancel": ("Cancel payment", "Cancel this payment? Its invoices get their balance back.", "cancelled the payment"),
}


@routes.get("/payments")
async def payment_search(request: web.Request) -> web.Response:
    who = require(request, "manager")
    filters = {k: request.query.get(k, "").strip() for k in FILTERS}
    params = {k: v for k, v in filters.items() if v}
    params["limit"] = "25"
    if request.query.get("cursor"):
        params["cursor"] = request.query["cursor"]
    error = None
    try:
        found = await deps(request).services.payments.call(who.identity(), "GET", "/v1/payments", params=params)
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        found, error = {"items": [], "next_cursor": None}, sentence(exc.code, exc.message)
    return page(request, "payment_search.html", {
        "filters": filters, "statuses": STATUSES, "payments": found["items"], "next_cursor": found["next_cursor"],
        "error": error, "next_query": {k: v for k, v in filters.items() if v}})


async def _payment(request: web.Request) -> dict[str, Any]:
    who = user(request)
    return await deps(request).services.payments.call(who.identity(), "GET",
                                                      f"/v1/payments/{request.match_info['payment_id']}")


@routes.get("/payments/{payment_id}")
async def payment_details(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    who = require(request, "manager", "client")
    payment = await _payment(request)
    targets: list[dict[str, Any]] = []
    if who.is_one_of("manager") and payment["status"] == "succeeded" and payment["unapplied_amount"] != "0.00":
        listed = await deps(request).services.payments.call(
            who.identity(), "GET", "/v1/invoices", params={"organization_id": payment["organization_id"],
                                                            "status": "open", "limit": "200"})
        targets = [i for i in listed["items"] if i["payable"]]
    return page(request, "payment_details.html", {"payment": payment, "targets": targets, "error": error,
                                                  "may_change": who.is_one_of("manager")}, status=status)


@routes.get("/payments/{payment_id}/{action:apply|refund|cancel}")
async def confirm_action(request: web.Request) -> web.Response:
    require(request, "manager")
    await _payment(request)  # a payment nobody has is not found, not a question to confirm
    action = request.match_info["action"]
    _, question, _ = ACTIONS[action]
    fields = {k: request.query[k] for k in ("invoice_id", "keep_remainder", "amount") if request.query.get(k)}
    fields["request_key"] = uuid.uuid4().hex  # a second submit of this page (a double click, a resend) moves nothing
    detail = ""
    if action == "apply":
        detail = f"Invoice {request.query.get('invoice_id', '')}"
        detail += " (keep the rest unapplied)" if fields.get("keep_remainder") else " (the rest is refunded)"
    elif action == "refund":
        detail = f"Amount: {fields.get('amount') or 'all the unapplied money'}"
    return page(request, "confirm.html", {
        "title": question, "message": detail, "fields": fields,
        "action": f"/payments/{request.match_info['payment_id']}/{action}",
        "back": f"/payments/{request.match_info['payment_id']}"})


@routes.post("/payments/{payment_id}/{action:apply|refund|cancel}")
async def change_payment(request: web.Request) -> web.Response:
    who = require(request, "manager")
    action, payment_id = request.match_info["action"], request.match_info["payment_id"]
    form = await request.post()
    body: dict[str, Any] = {}
    if action == "apply":
        body = {"invoice_id": str(form.get("invoice_id", "")), "keep_remainder": form.get("keep_remainder") == "on"}
    elif action == "refund" and str(form.get("amount", "")).strip():
        body = {"amount": str(form["amount"]).strip()}
    key = str(form.get("request_key", "")).strip()
    try:
        await deps(request).services.payments.call(who.identity(), "POST", f"/v1/payments/{payment_id}/{action}",
                                                   json=body, headers={"Idempotency-Key": key} if key else None)
    except ServiceError as exc:
        if exc.status >= 500 and exc.code != "gateway_unavailable":
            raise
        return await payment_details(request, error=sentence(exc.code, exc.message), status=exc.status)
    label, _, done = ACTIONS[action]
    await audit(request, done, payment_id, body)
    raise redirect(request, f"/payments/{payment_id}", flash=f"{label}: done")
