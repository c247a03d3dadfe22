"""Reconciliation (admin): run one for a period, read each report's drifts with their evidence, repair a
drift where a safe repair exists or explain it with a note. The work is payments' (and sync's): the pages
only call payments' /v1/reconciliation API."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from billing_portal.adapters.services_api import ServiceError
from billing_portal.domain.messages import sentence
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require

routes = web.RouteTableDef()
API = "/v1/reconciliation"
# What each drift class means, for people (the codes are payments' and sync's).
DRIFT_LABELS = {
    "gateway_sale_unknown_to_ledger": "Charged at the gateway, not in the ledger",
    "ledger_sale_not_at_gateway": "In the ledger, not standing at the gateway",
    "gateway_amount_differs": "Amounts differ between the gateway and the ledger",
    "accounting_payment_missing": "Missing in accounting",
    "accounting_amount_differs": "Different in accounting",
    "psa_paid_date_differs": "Paid date differs in the PSA",
    "paid_elsewhere_while_open": "Paid in accounting by other means, open here",
}


def _days(run: dict) -> str:
    """The run's period as the days it covers (UTC, both included)."""
    first = datetime.fromisoformat(run["period_start"]).date()
    last = (datetime.fromisoformat(run["period_end"]) - timedelta(seconds=1)).date()
    return first.isoformat() if first == last else f"{first} to {last}"


@routes.get("/reconciliation")
async def runs(request: web.Request) -> web.Response:
    who = require(request, "admin")
    found = await deps(request).services.payments.call(who.identity(), "GET", API + "/runs", params={"limit": "50"})
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    return page(request, "reconciliation.html", {"runs": [{**r, "days": _days(r)} for r in found["runs"]],
                                                 "yesterday": yesterday})


@routes.post("/reconciliation")
async def start(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = await request.post()
    body = {k: str(form[k]) for k in ("from_date", "to_date") if str(form.get(k) or "").strip()}
    try:
        run = await deps(request).services.payments.call(who.identity(), "POST", API + "/runs", json=body)
    except ServiceError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        raise redirect(request, "/reconciliation", ok=False,
                       flash=f"{sentence(exc.code, exc.message)} ({exc.message})") from None
    await audit(request, "started a reconciliation", run["run_id"], body)
    raise redirect(request, f"/reconciliation/{run['run_id']}", flash="Reconciliation started")


@routes.get("/reconciliation/{reconciliation_id}")
async def report(request: web.Request) -> web.Response:
    who = require(request, "admin")
    try:
        found = await deps(request).services.payments.call(
            who.identity(), "GET", f"{API}/runs/{request.match_info['reconciliation_id']}")
    except ServiceError as exc:
        if exc.status == 404:
            raise web.HTTPNotFound() from None
        raise
    return page(request, "reconciliation_report.html", {**found, "days": _days(found["run"]), "labels": DRIFT_LABELS})


@routes.post("/reconciliation/drifts/{drift_id}/repair")
async def repair(request: web.Request) -> web.Response:
    return await _answer_drift(request, "repair")


@routes.post("/reconciliation/drifts/{drift_id}/explain")
async def explain(request: web.Request) -> web.Response:
    return await _answer_drift(request, "explain")


async def _answer_drift(request: web.Request, action: str) -> web.Response:
    who = require(request, "admin")
    form = await request.post()
    drift_id = request.match_info["drift_id"]
    back = f"/reconciliation/{form.get('reconciliation_id')}" if form.get("reconciliation_id") else "/reconciliation"
    body = {"note": str(form.get("note") or "").strip()} if action == "explain" else None
    try:
        drift = await deps(request).services.payments.call(
            who.identity(), "POST", f"{API}/drifts/{drift_id}/{action}", json=body)
    except ServiceError as exc:
        if exc.status >= 500 or exc.status in (401, 403):
            raise
        if exc.status == 404:
            raise web.HTTPNotFound() from None
        raise redirect(request, back, ok=False, flash=sentence(exc.code, exc.message)) from None
    await audit(request, f"{'repaired' if action == 'repair' else 'explained'} a reconciliation drift", drift_id,
                {"code": drift["code"], "state": drift["state"], **(body or {})})
    done = {"repaired": "Drift repaired", "repair_requested": "Repair sent: the next reconciliation shows whether "
            "it cleared the drift", "explained": "Drift marked as explained"}[drift["state"]]
    raise redirect(request, back, flash=done)
