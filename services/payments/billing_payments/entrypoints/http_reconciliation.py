"""Three-way reconciliation: start a run, read its report, explain or repair a drift (admin only)."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, Field

from billing_shared.events.reconciliation import Evidence
from billing_shared.money import Money
from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal
from billing_shared.web.errors import invalid_request, not_found, read_json
from billing_shared.web.routes import ApiRoutes

from billing_payments.adapters import payment_store
from billing_payments.adapters import reconciliation_store as store
from billing_payments.entrypoints.requests import Strict
from billing_payments.entrypoints.web_support import deps
from billing_payments.service import reconciliation

routes = ApiRoutes()
MAX_DAYS = 92  # a quarter: longer periods are run quarter by quarter
EARLIEST = date(2000, 1, 1)


class RunRequest(Strict):
    """Days in UTC, both included; both omitted: yesterday."""

    from_date: date | None = None
    to_date: date | None = None


class ExplainRequest(Strict):
    note: str = Field(min_length=1, max_length=1000)


class DriftView(BaseModel):
    drift_id: str
    run_id: str
    part: str
    code: str
    state: str
    organization_id: str | None
    payment_id: str | None
    invoice_id: str | None
    transaction_id: str | None
    accounting_id: str | None
    currency: str | None
    amount: Money | None
    summary: str
    evidence: Evidence
    repairable: bool
    note: str | None
    resolved_by: str | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, r: asyncpg.Record, pending: frozenset[str] = frozenset()) -> DriftView:
        """`pending`: the payments the ledger holds pending (a sale found for one of them can be recorded)."""
        evidence = r["evidence"] if isinstance(r["evidence"], dict) else json.loads(r["evidence"])
        return cls(**{k: r[k] for k in ("part", "code", "state", "organization_id", "payment_id", "invoice_id",
                                        "transaction_id", "accounting_id", "currency", "amount", "summary", "note",
                                        "resolved_by", "resolved_at")},
                   drift_id=str(r["drift_id"]), run_id=str(r["run_id"]), evidence=Evidence(**evidence),
                   repairable=r["code"] in reconciliation.RESENDABLE
                   or (r["code"] == "gateway_sale_unknown_to_ledger" and r["payment_id"] in pending))


class PartView(BaseModel):
    state: str  # pending, checked, failed
    failure: str | None
    checked: dict[str, Any]


class RunView(BaseModel):
    run_id: str
    trigger: str
    status: str  # running, completed
    period_start: datetime
    period_end: datetime
    requested_by: str | None
    created_at: datetime
    completed_at: datetime | None
    gateway: PartView
    books: PartView
    drift_count: int
    open_count: int  # drifts neither explained nor repaired

    @classmethod
    def of(cls, r: asyncpg.Record) -> RunView:
        def part(name: str) -> PartView:
            checked = r[f"{name}_checked"]
            return PartView(state=r[f"{name}_state"], failure=r[f"{name}_failure"],
                            checked=checked if isinstance(checked, dict) else json.loads(checked))

        return cls(run_id=str(r["run_id"]), trigger=r["trigger"], status=r["status"],
                   period_start=r["period_start"], period_end=r["period_end"], requested_by=r["requested_by"],
                   created_at=r["created_at"], completed_at=r["completed_at"], gateway=part("gateway"),
                   books=part("books"), drift_count=r["drift_count"], open_count=r["open_count"])


class RunsView(BaseModel):
    runs: list[RunView]


class ReportView(BaseModel):
    run: RunView
    drifts: list[DriftView]


def _by(request: web.Request) -> str:
    who = principal(request)
    return who.contact_id or who.role


def _id(request: web.Request, name: str, what: str) -> uuid.UUID:
    found = store.parse_id(request.match_info[name])
    if found is None:
        raise not_found(what)
    return found


@routes.post("/v1/reconciliation/runs", summary="Reconcile the gateway, the ledger, accounting and the PSA for "
             "a period of days (UTC, both included; default yesterday)", roles=("admin",), body=RunRequest,
             response=RunView, status=202)
async def start_run(request: web.Request) -> web.Response:
    body = RunRequest.model_validate(await read_json(request))
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    first, last = body.from_date or body.to_date or yesterday, body.to_date or body.from_date or yesterday
    if last < first:
        raise invalid_request("to_date is before from_date")
    if last > datetime.now(UTC).date():
        raise invalid_request("to_date is in the future")
    if first < EARLIEST:
        raise invalid_request(f"from_date is before {EARLIEST}: no payment of this system is that old")
    if (last - first).days + 1 > MAX_DAYS:
        raise invalid_request(f"a run covers at most {MAX_DAYS} days")
    start, end = reconciliation.day_bounds(datetime.combine(first, datetime.min.time(), UTC),
                                           datetime.combine(last, datetime.min.time(), UTC))
    run_id = await reconciliation.start_run(deps(request), trigger="on_demand", start=start, end=end,
                                            requested_by=_by(request))
    row = await store.run(deps(request).pool, run_id)  # type: ignore[arg-type]
    return json_ok(RunView.of(row), status=202)


@routes.get("/v1/reconciliation/runs", summary="Reconciliation runs, newest first", roles=("admin",),
            response=RunsView)
async def list_runs(request: web.Request) -> web.Response:
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise invalid_request("limit must be a whole number") from None
    if not 1 <= limit <= 200:
        raise invalid_request("limit must be between 1 and 200")
    return json_ok(RunsView(runs=[RunView.of(r) for r in await store.runs(deps(request).pool, limit)]))


@routes.get("/v1/reconciliation/runs/{run_id}", summary="A reconciliation report: the run and every drift with "
            "its evidence", roles=("admin",), response=ReportView)
async def get_report(request: web.Request) -> web.Response:
    run_id = _id(request, "run_id", "reconciliation run")
    pool = deps(request).pool
    row = await store.run(pool, run_id)
    if row is None:
        raise not_found("reconciliation run")
    drifts = await store.drifts(pool, run_id)
    named = [d["payment_id"] for d in drifts if d["code"] == "gateway_sale_unknown_to_ledger" and d["payment_id"]]
    pending = frozenset(p.payment_id for p in await payment_store.load_many(pool, named) if p.status == "pending")
    return json_ok(ReportView(run=RunView.of(row), drifts=[DriftView.of(d, pending) for d in drifts]))


@routes.post("/v1/reconciliation/drifts/{drift_id}/explain", summary="Mark a drift as explained, with a note",
             roles=("admin",), body=ExplainRequest, response=DriftView)
async def explain(request: web.Request) -> web.Response:
    drift_id = _id(request, "drift_id", "drift")
    if await store.drift(deps(request).pool, drift_id) is None:  # a drift that is not there: 404, whatever the body
        raise not_found("drift")
    body = ExplainRequest.model_validate(await read_json(request))
    return json_ok(DriftView.of(await reconciliation.explain(deps(request), drift_id, body.note, _by(request))))


@routes.post("/v1/reconciliation/drifts/{drift_id}/repair", summary="The safe repair of a drift: write the "
             "ledger's state to accounting and the PSA again, or record a sale the ledger has pending; never a "
             "charge or a refund", roles=("admin",), response=DriftView)
async def repair(request: web.Request) -> web.Response:
    drift_id = _id(request, "drift_id", "drift")
    return json_ok(DriftView.of(await reconciliation.repair(deps(request), drift_id, _by(request))))
