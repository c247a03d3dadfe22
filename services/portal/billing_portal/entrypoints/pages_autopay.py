"""Autopay of one organization: staff at /organizations/{id}/autopay, a client whose profile allows `autopay`
at /portal/autopay. The enrollment (a stored method, a rule, a maximum per invoice) or that autopay is off,
the form to turn it on or change it, Turn off, and the attempts the scheduler made. The work is payments'
(/v1/organizations/{id}/autopay); the pages only call it, as the person."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from billing_portal.adapters.services_api import ServiceError
from billing_portal.domain import autopay_form
from billing_portal.domain.messages import sentence
from billing_portal.domain.people import User
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require, require_permission

routes = web.RouteTableDef()
ATTEMPTS_SHOWN = "50"
INVOICES_SCANNED = "200"  # the newest invoices, to name the attempts' invoices by number


def _api(organization_id: str) -> str:
    return f"/v1/organizations/{organization_id}/autopay"


def _client(request: web.Request) -> User:
    require(request, "client")
    return require_permission(request, "autopay")


async def _optional(call: Any) -> Any:
    """What a client's profile may not allow besides autopay (the wallet needs Make Payments, invoice numbers
    View Invoices): the page does without it rather than refusing."""
    try:
        return await call
    except ServiceError as exc:
        if exc.status == 403:
            return None
        raise


async def _render(request: web.Request, who: User, organization_id: str, here: str, *,
                  form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  error: str | None = None, status: int = 200) -> web.Response:
    payments, staff = deps(request).services.payments, who.role != "client"
    identity = who.identity()
    calls = [
        payments.call(identity, "GET", _api(organization_id)),
        payments.call(identity, "GET", _api(organization_id) + "/attempts", params={"limit": ATTEMPTS_SHOWN}),
        _optional(payments.call(identity, "GET", f"/v1/organizations/{organization_id}/wallet")),
        _optional(payments.call(identity, "GET", "/v1/invoices", params={
            "organization_id": organization_id, "order": "newest", "limit": INVOICES_SCANNED})),
    ]
    if staff:
        calls.append(deps(request).services.sync.call(
            identity, "GET", f"/v1/organizations/{organization_id}/contacts", params={"limit": "200"}))
    found = await asyncio.gather(*calls)
    autopay, attempts, wallet, invoices = found[:4]
    enrollment = autopay["enrollment"]
    numbers = {i["invoice_id"]: i["invoice_number"] for i in (invoices or {}).get("items", []) if i["invoice_number"]}
    methods = [{**m, "label": autopay_form.method_words(m)} for m in (wallet or {}).get("items", [])]
    if enrollment and not any(m["method_id"] == enrollment["method"]["method_id"] for m in methods):
        # the enrolled method, even when the wallet cannot be listed (or it was removed since)
        methods.insert(0, {**enrollment["method"], "label": autopay_form.method_words(enrollment["method"])})
    return page(request, "autopay.html", {
        "organization_id": organization_id, "staff": staff, "here": here, "enrollment": enrollment,
        "method_label": autopay_form.method_words(enrollment["method"]) if enrollment else "",
        "rule_label": autopay_form.rule_words(enrollment["rule"]) if enrollment else "",
        "methods": methods, "wallet_listed": wallet is not None,
        "contacts": [c for c in found[4]["items"] if c["active"]] if staff else [],
        "rules": autopay_form.RULES, "max_days": autopay_form.MAX_DAYS_AFTER_ISSUE,
        "form": autopay_form.shown(enrollment, form), "errors": errors or {}, "error": error,
        "attempts": [{**a, "invoice_label": numbers.get(a["invoice_id"], a["invoice_id"]),
                      "status_label": autopay_form.STATUS_WORDS.get(a["status"], a["status"]),
                      "reason_label": autopay_form.attempt_reason(a)} for a in attempts["items"]],
    }, status=status)


async def _save(request: web.Request, who: User, organization_id: str, here: str) -> web.Response:
    posted = await request.post()
    form = {k: str(posted.get(k, "")) for k in ("method_id", "rule", "days", "max_amount", "contact_id")}
    parsed = autopay_form.request_body(form, staff=who.role != "client")
    if parsed.errors:
        return await _render(request, who, organization_id, here, form=form, errors=parsed.errors,
                             error="Autopay was not saved: check the fields marked.", status=422)
    try:
        before = (await deps(request).services.payments.call(who.identity(), "GET", _api(organization_id)))
        saved = await deps(request).services.payments.call(who.identity(), "PUT", _api(organization_id),
                                                           json=parsed.body)
    except ServiceError as exc:
        if exc.status >= 500 or exc.status in (401, 403) or (exc.status == 404 and "method" not in exc.message):
            raise
        return await _render(request, who, organization_id, here, form=form,
                             status=422 if exc.status == 404 else exc.status,  # the method: the page is there
                             error=f"Autopay was not saved. {sentence(exc.code, exc.message)} ({exc.message})")
    action = "changed autopay" if before["enrollment"] else "turned autopay on"
    await audit(request, action, organization_id, {
        "method_id": parsed.body["method_id"], "rule": autopay_form.rule_words(parsed.body["rule"]),
        "max_amount": parsed.body["max_amount"], "contact_id": saved["enrollment"]["contact_id"]})
    raise redirect(request, here, flash="Autopay saved")


async def _turn_off(request: web.Request, who: User, organization_id: str, here: str) -> web.Response:
    payments = deps(request).services.payments
    before = await payments.call(who.identity(), "GET", _api(organization_id))
    await payments.call(who.identity(), "DELETE", _api(organization_id))
    if before["enrollment"]:  # turning off what is off already changes nothing: nothing to audit
        await audit(request, "turned autopay off", organization_id)
    raise redirect(request, here, flash="Autopay turned off")


# -- staff -----------------------------------------------------------------------------------------------
def _staff_page(request: web.Request) -> tuple[User, str, str]:
    who = require(request, "manager")
    organization_id = request.match_info["organization_id"]
    return who, organization_id, f"/organizations/{organization_id}/autopay"


@routes.get("/organizations/{organization_id}/autopay")
async def staff_autopay(request: web.Request) -> web.Response:
    return await _render(request, *_staff_page(request))


@routes.post("/organizations/{organization_id}/autopay")
async def staff_save(request: web.Request) -> web.Response:
    return await _save(request, *_staff_page(request))


@routes.post("/organizations/{organization_id}/autopay/off")
async def staff_turn_off(request: web.Request) -> web.Response:
    return await _turn_off(request, *_staff_page(request))


# -- a client, for its own organization -------------------------------------------------------------------
@routes.get("/portal/autopay")
async def client_autopay(request: web.Request) -> web.Response:
    who = _client(request)
    return await _render(request, who, who.organization_id or "", "/portal/autopay")


@routes.post("/portal/autopay")
async def client_save(request: web.Request) -> web.Response:
    who = _client(request)
    return await _save(request, who, who.organization_id or "", "/portal/autopay")


@routes.post("/portal/autopay/off")
async def client_turn_off(request: web.Request) -> web.Response:
    who = _client(request)
    return await _turn_off(request, who, who.organization_id or "", "/portal/autopay")
