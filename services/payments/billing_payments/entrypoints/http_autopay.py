"""Autopay of one organization: its enrollment (a stored method, a rule, a maximum per invoice) and the
attempts the scheduler made. Staff (manager, admin) as for the wallet; a client for its own organization
when its profile allows `autopay`."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from billing_shared.money import Money
from billing_shared.web.app import json_ok
from billing_shared.web.auth import principal, require_permission
from billing_shared.web.errors import invalid_request, not_found, read_json
from billing_shared.web.fields import Line
from billing_shared.web.routes import ApiRoutes

from billing_payments.adapters import autopay_store, directory_store, wallet_store
from billing_payments.adapters.autopay_store import Attempt
from billing_payments.domain.autopay import MAX_DAYS_AFTER_ISSUE, Enrollment, Rule
from billing_payments.entrypoints.web_support import deps, refuse_raw_card_data
from billing_payments.service import autopay

routes = ApiRoutes()
PATH = "/v1/organizations/{organization_id}/autopay"
PERMISSION = "autopay"
MAX_ATTEMPTS_LISTED = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OnDueDate(_Strict):
    kind: Literal["on_due_date"]


class DaysAfterIssue(_Strict):
    kind: Literal["days_after_issue"]
    days: int = Field(ge=0, le=MAX_DAYS_AFTER_ISSUE, strict=True)


RuleBody = Annotated[OnDueDate | DaysAfterIssue, Field(discriminator="kind")]


class AutopayRequest(_Strict):
    method_id: Line = Field(min_length=1, max_length=100)
    rule: RuleBody
    max_amount: Money = Field(gt=0, description="the most one invoice is charged; a higher balance is skipped")
    contact_id: Line | None = Field(default=None, max_length=255,
                                    description="staff: the contact autopay pays as (default: the method's contact)")


class MethodView(BaseModel):
    method_id: str
    type: str
    brand: str | None
    last4: str | None


class RuleView(BaseModel):
    kind: str
    days: int | None = None


class EnrollmentView(BaseModel):
    method: MethodView
    rule: RuleView
    max_amount: Money
    currency: str
    contact_id: str
    enrolled_by: str
    enrolled_at: datetime


class AutopayView(BaseModel):
    organization_id: str
    enrollment: EnrollmentView | None


class AttemptView(BaseModel):
    attempt_id: str
    invoice_id: str
    attempt_number: int
    rule: str
    status: str  # scheduled, checking, charging, succeeded, failed (a retry follows), gave_up, skipped
    skip_reason: str | None
    reason: str | None  # why it was skipped or declined, in words
    charge_on: date
    scheduled_for: datetime
    amount: Money | None
    accounting_balance: Money | None
    payment_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: Attempt) -> AttemptView:
        return cls(attempt_id=a.attempt_id, invoice_id=a.invoice_id, attempt_number=a.attempt_number, rule=a.rule_key,
                   status=a.status, skip_reason=a.skip_reason, reason=a.failure_reason, charge_on=a.charge_on,
                   scheduled_for=a.run_at, amount=a.amount, accounting_balance=a.accounting_balance,
                   payment_id=a.payment_id, created_at=a.created_at, updated_at=a.updated_at)


class AttemptPage(BaseModel):
    items: list[AttemptView]


async def _organization(request: web.Request) -> str:
    """A client's own organization (another's is 404), with the profile's permission; for staff, one payments
    knows."""
    organization_id = request.match_info["organization_id"]
    principal(request).check_organization(organization_id, "organization")
    require_permission(request, PERMISSION)
    if not await directory_store.organization_known(deps(request).pool, organization_id):
        raise not_found("organization")
    return organization_id


async def _view(pool: asyncpg.Pool, organization_id: str, enrollment: Enrollment | None) -> AutopayView:
    if enrollment is None:
        return AutopayView(organization_id=organization_id, enrollment=None)
    return AutopayView(organization_id=organization_id, enrollment=EnrollmentView(
        method=await _method(pool, enrollment.method_id), rule=RuleView(kind=enrollment.rule.kind, days=enrollment.rule.days),
        max_amount=enrollment.max_amount, currency=enrollment.currency, contact_id=enrollment.contact_id,
        enrolled_by=enrollment.enrolled_by, enrolled_at=enrollment.enrolled_at))


async def _method(pool: asyncpg.Pool, method_id: str) -> MethodView:
    method = await wallet_store.get(pool, method_id)
    if method is None:  # removed from the wallet since: the enrollment's attempts skip with method_removed
        return MethodView(method_id=method_id, type="removed", brand=None, last4=None)
    return MethodView(method_id=method.method_id, type=method.type, brand=method.brand, last4=method.last4)


@routes.get(PATH, summary="An organization's autopay enrollment (null when autopay is off)",
            roles=("manager", "client"), response=AutopayView)
async def get_autopay(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    pool = deps(request).pool
    return json_ok(await _view(pool, organization_id, await autopay_store.get_enrollment(pool, organization_id)))


@routes.put(PATH, summary="Turn autopay on, or change it: a stored method, a rule and a maximum per invoice",
            roles=("manager", "client"), body=AutopayRequest, response=AutopayView)
async def put_autopay(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    raw = await read_json(request)
    refuse_raw_card_data(raw)
    body = AutopayRequest.model_validate(raw)
    who = principal(request)
    if who.role == "client" and body.contact_id not in (None, who.contact_id):
        raise invalid_request("a client's autopay pays as the client itself", {"fields": {"contact_id": "not yours"}})
    rule = Rule(body.rule.kind, getattr(body.rule, "days", None))
    enrollment = await autopay.enroll(deps(request), organization_id, who, body.method_id, rule, body.max_amount,
                                      body.contact_id)
    return json_ok(await _view(deps(request).pool, organization_id, enrollment))


@routes.delete(PATH, summary="Turn autopay off (already off: still 204)", roles=("manager", "client"), status=204)
async def delete_autopay(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    await autopay_store.delete_enrollment(deps(request).pool, organization_id)
    return web.Response(status=204)


@routes.get(PATH + "/attempts", summary="Autopay's charges tried and skipped, newest first",
            roles=("manager", "client"), response=AttemptPage)
async def list_attempts(request: web.Request) -> web.Response:
    organization_id = await _organization(request)
    raw_limit = request.query.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_ATTEMPTS_LISTED:
        raise invalid_request(f"limit must be 1 to {MAX_ATTEMPTS_LISTED}", {"fields": {"limit": "out of range"}})
    attempts = await autopay_store.list_attempts(deps(request).pool, organization_id, int(raw_limit))
    return json_ok(AttemptPage(items=[AttemptView.of(a) for a in attempts]))
