"""The authorization matrix (issue 11, item 3): every route of the services' /openapi.json documents ×
every principal (no token, the machine tokens of admin, manager, client A and client B, the identities
the portal signs for the same four people and for a client whose profile allows nothing, and identities
signed with another key or expired) × {own id, another organization's id, a missing id} for routes
with ids. The expected status of each cell comes from TABLE below and CONTRACT.md "Auth":

- no token: 401; a role the route does not name: 403 (before anything is looked up);
- a client on another organization's object: 404, the same answer as for a missing id (never leak existence);
- a missing id: 404; staff see every organization, so "another organization's id" is a normal cell for them;
- an allowed principal on its own object: the route's `own` status (2xx, or a business 4xx noted in the table).

A route found in an OpenAPI document without an entry in TABLE fails the test, and so does an entry whose
route no document has. Routes that change state run their cells one at a time, after the others, each
allowed cell on a fresh object of its own (a payment to cancel, a stored method to remove, an integration to
delete). Settings that would change the shared world get a body that fails validation (422) after the auth
check: marked "422 body" in the table."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from tests.e2e.authz_support import CONTACT, ORG, PRINCIPALS, AuthzWorld, Principal, Reply, authz_world

pytestmark = pytest.mark.timeout(300)

NOT_AN_OBJECT = ["a", "body", "that", "is", "not", "an", "object"]  # any settings body: 422 after the auth check
MISSING = {"org": "autotask:999999", "invoice": "autotask:999999"}  # other kinds: a fresh uuid

Body = Callable[[AuthzWorld, Principal, str], Any]


@dataclass(frozen=True)
class Route:
    roles: tuple[str, ...]  # who may call it (admin may do whatever a manager may)
    ids: str | None = None  # the kind of object its path names: org, invoice, payment, method, run, delivery,
    #                         integration, webhook, webhook_message; "body:invoice" for the invoice named in
    #                         the body; None: no id
    own: int = 200  # an allowed principal on its own object (or the route's only cell)
    missing: int = 404  # staff on a missing id (a search filter that matches nothing: an empty page)
    body: Body | None = None
    headers: bool = False  # an Idempotency-Key
    permission: str | None = None  # what a client's profile must allow (view_invoices, make_payments, view_quotes)
    serial: bool = False  # changes state: cells one at a time, each allowed one on a fresh object
    prepare: Callable[[AuthzWorld], Awaitable[Any]] | None = None  # before each allowed cell of a serial route
    note: str = ""


def _pay_body(world: AuthzWorld, who: Principal, org: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"invoice_id": world.ids[org]["invoice"] if org else MISSING["invoice"],
                            "amount": "1.00", "payment_method": {"token": "tok_visa_approved"}}
    if who.role != "client":
        body["contact_id"] = CONTACT[org or "A"]
    return body


def _same_org_invoice(world: AuthzWorld, who: Principal, org: str | None) -> dict[str, Any]:
    return {"invoice_id": world.ids[org or "A"]["invoice"]}


def _wallet_body(world: AuthzWorld, who: Principal, org: str | None) -> dict[str, Any]:
    return {"token": "tok_visa_approved"} | ({} if who.role == "client" else {"contact_id": CONTACT[org or "A"]})


def _autopay_body(world: AuthzWorld, who: Principal, org: str | None) -> dict[str, Any]:
    return {"method_id": world.ids[org or "A"]["method"], "rule": {"kind": "days_after_issue", "days": 90},
            "max_amount": "1.00"} | ({} if who.role == "client" else {"contact_id": CONTACT[org or "A"]})


def _bad(*_: Any) -> Any:
    return NOT_AN_OBJECT


S, P, N = "sync", "payments", "notifications"
STAFF, ADMIN, ANYONE = ("manager",), ("admin",), ("manager", "client")
TABLE: dict[tuple[str, str, str], Route] = {
    # sync
    (S, "GET", "/v1/integrations/autotask"): Route(ADMIN),
    (S, "PUT", "/v1/integrations/autotask"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (S, "GET", "/v1/integrations/quickbooks"): Route(ADMIN),
    (S, "PUT", "/v1/integrations/quickbooks"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (S, "DELETE", "/v1/integrations/{name}"): Route(ADMIN, "integration", 204, serial=True,
                                                     prepare=lambda w: w.connect_quickbooks(),
                                                     note="quickbooks stored again before each allowed cell"),
    (S, "POST", "/v1/integrations/{name}/test"): Route(ADMIN, "integration"),
    (S, "GET", "/v1/organizations"): Route(STAFF),
    (S, "GET", "/v1/organizations/{id}/contacts"): Route(STAFF, "org"),
    (S, "GET", "/v1/organizations/{id}/quotes"): Route(ANYONE, "org", permission="view_quotes"),
    (S, "GET", "/v1/settings/invoice-image"): Route(ADMIN),
    (S, "PUT", "/v1/settings/invoice-image"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (S, "GET", "/v1/settings/client-access"): Route(ADMIN),
    (S, "PUT", "/v1/settings/client-access"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (S, "GET", "/v1/invoices/{id}/image"): Route(ANYONE, "invoice", permission="view_invoices",
                                                 note="the PDF of the accounting simulator"),
    (S, "GET", "/v1/sync/payment-writebacks"): Route(ADMIN),
    (S, "POST", "/v1/sync/runs"): Route(ADMIN, own=202, body=lambda *_: {}, note="joins or starts a run"),
    (S, "GET", "/v1/sync/runs/{id}"): Route(ADMIN, "run"),
    (S, "GET", "/v1/sync/runs"): Route(ADMIN),
    # payments
    (P, "POST", "/v1/payments"): Route(ANYONE, "body:invoice", 201, body=_pay_body, headers=True, serial=True,
                                       permission="make_payments",
                                       note="pays 1.00 of the invoice named in the body"),
    (P, "GET", "/v1/payments"): Route(ANYONE, "query:org", missing=200, note="?organization_id="),
    (P, "GET", "/v1/payments/{payment_id}"): Route(ANYONE, "payment"),
    (P, "POST", "/v1/payments/{payment_id}/apply"): Route(STAFF, "payment", 409, body=_same_org_invoice,
                                                          note="own: 409 nothing_unapplied"),
    (P, "POST", "/v1/payments/{payment_id}/refund"): Route(STAFF, "payment", 409, body=lambda *_: {},
                                                           note="own: 409 nothing_unapplied"),
    (P, "POST", "/v1/payments/{payment_id}/cancel"): Route(STAFF, "payment", serial=True,
                                                           note="a fresh payment for each allowed cell"),
    (P, "GET", "/v1/settings/payment-processing"): Route(ADMIN),
    (P, "PUT", "/v1/settings/payment-processing"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (P, "POST", "/v1/settings/payment-processing/test"): Route(ADMIN),
    (P, "GET", "/v1/payment-form"): Route(ANYONE),
    (P, "GET", "/v1/invoices"): Route(ANYONE, "query:org", missing=200, permission="view_invoices",
                                      note="?organization_id="),
    (P, "GET", "/v1/invoices/{invoice_id}"): Route(ANYONE, "invoice", permission="view_invoices"),
    (P, "GET", "/v1/organizations/{organization_id}/wallet"): Route(ANYONE, "org", permission="make_payments"),
    (P, "POST", "/v1/organizations/{organization_id}/wallet"): Route(ANYONE, "org", 201, body=_wallet_body,
                                                                      permission="make_payments",
                                                                      note="stores a method"),
    (P, "DELETE", "/v1/organizations/{organization_id}/wallet/{method_id}"): Route(
        ANYONE, "method", 204, serial=True, permission="make_payments",
        note="a fresh stored method for each allowed cell; crossed: the caller's organization with the other "
             "one's method: 404"),
    (P, "POST", "/v1/reconciliation/runs"): Route(ADMIN, own=202, body=lambda *_: {}, note="starts a run of yesterday"),
    (P, "GET", "/v1/reconciliation/runs"): Route(ADMIN),
    (P, "GET", "/v1/reconciliation/runs/{run_id}"): Route(ADMIN, "reconciliation"),
    (P, "POST", "/v1/reconciliation/drifts/{drift_id}/explain"): Route(
        ADMIN, "drift", 409, body=lambda *_: {"note": "seen"}, note="own: 409 drift_resolved (explained already)"),
    (P, "POST", "/v1/reconciliation/drifts/{drift_id}/repair"): Route(
        ADMIN, "drift", 409, note="own: 409 drift_resolved (explained already)"),
    (P, "GET", "/v1/organizations/{organization_id}/autopay"): Route(ANYONE, "org", permission="autopay"),
    (P, "PUT", "/v1/organizations/{organization_id}/autopay"): Route(
        ANYONE, "org", body=_autopay_body, serial=True, permission="autopay",
        note="enrolls the organization's stored method; a rule and maximum that never charge the world's invoices"),
    (P, "DELETE", "/v1/organizations/{organization_id}/autopay"): Route(ANYONE, "org", 204, serial=True,
                                                                         permission="autopay"),
    (P, "GET", "/v1/organizations/{organization_id}/autopay/attempts"): Route(ANYONE, "org", permission="autopay"),
    (P, "POST", "/v1/webhooks/gateway"): Route((), own=401, note="public: its own signature, no bearer; "
                                                                  "unsigned: 401 for everyone"),
    # notifications
    (N, "GET", "/v1/settings/ticketing/connection"): Route(ADMIN),
    (N, "PUT", "/v1/settings/ticketing/connection"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (N, "DELETE", "/v1/settings/ticketing/connection"): Route(ADMIN, own=204, serial=True,
                                                              prepare=lambda w: w.connect_ticketing(),
                                                              note="connected again before each allowed cell"),
    (N, "POST", "/v1/settings/ticketing/connection/test"): Route(ADMIN),
    (N, "GET", "/v1/settings/ticketing/choices"): Route(ADMIN),
    (N, "GET", "/v1/deliveries"): Route(ADMIN),
    (N, "POST", "/v1/deliveries/{delivery_id}/retry"): Route(ADMIN, "delivery", 409,
                                                              note="own: 409 delivery_not_failed (delivered)"),
    (N, "GET", "/v1/settings/notifications"): Route(ADMIN),
    (N, "PUT", "/v1/settings/notifications"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (N, "GET", "/v1/settings/reminders"): Route(ADMIN),
    (N, "PUT", "/v1/settings/reminders"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (N, "GET", "/v1/settings/ticketing"): Route(ADMIN),
    (N, "PUT", "/v1/settings/ticketing"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (N, "POST", "/v1/webhooks/subscriptions"): Route(ADMIN, own=422, body=_bad, note="422 body"),
    (N, "GET", "/v1/webhooks/subscriptions"): Route(ADMIN),
    (N, "GET", "/v1/webhooks/subscriptions/{subscription_id}"): Route(ADMIN, "webhook"),
    (N, "PATCH", "/v1/webhooks/subscriptions/{subscription_id}"): Route(
        ADMIN, "webhook", body=lambda *_: {"enabled": True}, note="enabled already: stays so"),
    (N, "DELETE", "/v1/webhooks/subscriptions/{subscription_id}"): Route(
        ADMIN, "webhook", 204, serial=True, note="a fresh subscription for each allowed cell"),
    (N, "POST", "/v1/webhooks/subscriptions/{subscription_id}/rotate-secret"): Route(ADMIN, "webhook"),
    (N, "GET", "/v1/webhooks/subscriptions/{subscription_id}/messages"): Route(ADMIN, "webhook"),
    (N, "POST", "/v1/webhooks/subscriptions/{subscription_id}/replay"): Route(
        ADMIN, "webhook", body=lambda *_: {"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"},
        note="a range with no messages: replayed 0"),
    (N, "POST", "/v1/webhooks/messages/{message_id}/replay"): Route(ADMIN, "webhook_message"),
}
ORG_SCOPED = {"org", "invoice", "payment", "method", "body:invoice", "query:org"}
_IMPLIED = {"admin": {"admin", "manager"}, "manager": {"manager"}, "client": {"client"}}


@dataclass(frozen=True)
class Cell:
    service: str
    method: str
    path: str
    who: Principal
    kind: str | None  # own, other, missing; None for a route without ids

    def __str__(self) -> str:
        on = f" on {self.kind} id" if self.kind else ""
        return f"{self.method} {self.service}{self.path} as {self.who.name}{on}"


def expected(route: Route, who: Principal, kind: str | None) -> frozenset[int]:
    return frozenset(_expected(route, who, kind))


def _expected(route: Route, who: Principal, kind: str | None) -> tuple[int, ...]:
    if not route.roles:
        return (route.own,)
    if who.role is None:
        return (401,)
    if not (_IMPLIED[who.role] & set(route.roles)):
        return (403,)
    if who.limited and route.permission:  # a client whose profile does not allow it: 403 on its own object;
        return (403,) if kind in ("own", None) else (403, 404)  # other and missing: as each other (_leaks)
    if kind == "missing":
        return (404,) if who.role == "client" else (route.missing,)
    if kind == "crossed" or (kind == "other" and who.role == "client"):
        return (404,)
    return (route.own,)


def kinds(route: Route) -> tuple[str | None, ...]:
    if route.ids is None:
        return (None,)
    if route.ids == "method":
        return ("own", "other", "missing", "crossed")
    return ("own", "other", "missing") if route.ids in ORG_SCOPED else ("own", "missing")


def target_org(who: Principal, kind: str | None) -> str | None:
    """Whose object a cell names: the client's own organization (staff: A), the other one, or none."""
    if kind == "missing":
        return None
    own = who.org or "A"
    return own if kind in ("own", None) else ("B" if own == "A" else "A")  # other; crossed: the other's method


async def fill(world: AuthzWorld, route: Route, path: str, org: str | None, fresh: bool, crossed: bool) -> str:
    """The path with the ids of the cell's object: one made for the cell when `fresh`."""
    def one(value: str) -> str:
        return re.sub(r"{\w+}", value, path)

    kind = route.ids
    if kind in (None, "body:invoice"):
        return path
    if kind == "query:org":
        return f"{path}?organization_id={ORG[org] if org else MISSING['org']}"
    if kind == "org":
        return one(ORG[org] if org else MISSING["org"])
    if kind == "invoice":
        return one(world.ids[org]["invoice"] if org else MISSING["invoice"])
    if kind == "payment":
        payment = (await world.pay(org) if fresh else world.ids[org]["payment"]) if org else str(uuid.uuid4())
        return one(payment)
    if kind == "method":
        owner = ("B" if org == "A" else "A") if crossed else org or "A"  # crossed: the caller's org
        method = (await world.store_method(org) if fresh else world.ids[org]["method"]) if org else str(uuid.uuid4())
        return path.replace("{organization_id}", ORG[owner]).replace("{method_id}", method)
    if kind == "run":
        return one(world.run_id if org else str(uuid.uuid4()))
    if kind == "delivery":
        return one(world.delivery_id if org else str(uuid.uuid4()))
    if kind == "reconciliation":
        return one(world.reconciliation_id if org else str(uuid.uuid4()))
    if kind == "drift":
        return one(world.drift_id if org else str(uuid.uuid4()))
    if kind == "integration":
        return one("quickbooks" if org else "nosuch")
    if kind == "webhook":
        return one((await world.subscribe_webhook() if fresh else world.webhook_id) if org else str(uuid.uuid4()))
    if kind == "webhook_message":
        return one(world.webhook_message_id if org else str(uuid.uuid4()))
    raise AssertionError(f"no id kind {kind}")


async def run_cell(world: AuthzWorld, cell: Cell, route: Route) -> tuple[Cell, frozenset[int], Reply, str]:
    org = target_org(cell.who, cell.kind)
    want = expected(route, cell.who, cell.kind)
    fresh = route.serial and want == {route.own} and (org is not None or route.ids is None)
    if fresh and route.prepare:
        await route.prepare(world)
    path = await fill(world, route, cell.path, org, fresh, cell.kind == "crossed")
    body = route.body(world, cell.who, org) if route.body else None
    headers = {"Idempotency-Key": str(uuid.uuid4())} if route.headers else None
    reply = await world.call(cell.service, cell.method, path, body, who=cell.who.name,
                             headers=headers)
    return cell, want, reply, path


async def documented_routes(world: AuthzWorld) -> set[tuple[str, str, str]]:
    found = set()
    for service in (S, P, N):
        document = await world.ok(service, "GET", "/openapi.json", who=None)
        for path, operations in document["paths"].items():
            found |= {(service, method.upper(), path) for method in operations}
    return found


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(infra, tmp_path_factory):
    import asyncpg

    name = f"authz_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(infra.postgres_admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    database_url = f"{infra.postgres_admin_url.rsplit('/', 1)[0]}/{name}"
    async with authz_world(infra, database_url, f"t{uuid.uuid4().hex[:10]}.",
                           tmp_path_factory.mktemp("authz") / "logs") as built:
        yield built


@pytest.mark.asyncio(loop_scope="module")
async def test_every_route_answers_every_principal_as_the_table_says(world: AuthzWorld) -> None:
    started = time.monotonic()
    documented = await documented_routes(world)
    assert documented - TABLE.keys() == set(), "routes in /openapi.json without an entry in TABLE"
    assert TABLE.keys() - documented == set(), "entries of TABLE that no /openapi.json documents"

    cells = [(Cell(service, method, path, who, kind), route) for (service, method, path), route in TABLE.items()
             for who in PRINCIPALS for kind in kinds(route)]
    limit = asyncio.Semaphore(8)

    async def bounded(cell: Cell, route: Route) -> tuple[Cell, frozenset[int], Reply, str]:
        async with limit:
            return await run_cell(world, cell, route)

    results = await asyncio.gather(*(bounded(c, r) for c, r in cells if not r.serial))
    for cell, route in cells:
        if route.serial:
            results.append(await run_cell(world, cell, route))

    wrong = [f"{cell}: {reply.status} (expected {want}) {path} {str(reply.body)[:200]}"
             for cell, want, reply, path in results if reply.status not in want]
    leaks = _leaks(results)
    summary = (f"authorization matrix: {len(results)} cells over {len(TABLE)} routes and {len(PRINCIPALS)} "
               f"principals in {time.monotonic() - started:.1f}s; {len(wrong)} wrong, {len(leaks)} leaks")
    print(summary)
    assert not wrong and not leaks, summary + "\n" + "\n".join(wrong + leaks)


def _leaks(results: list[tuple[Cell, frozenset[int], Reply, str]]) -> list[str]:
    """For a client, another organization's object answers exactly as a missing one (status and code). Where
    a path names an organization and an object of it, the cell that differs from the missing one only by the
    object's existence is the crossed one (the caller's organization, another's object)."""
    answers = {(c.service, c.method, c.path, c.who.name, c.kind): r for c, _, r, _ in results}
    crossed = {(c.service, c.method, c.path) for c, _, _, _ in results if c.kind == "crossed"}
    found = []
    for (service, method, path, name, kind), reply in answers.items():
        partner = "crossed" if (service, method, path) in crossed else "other"
        if kind != partner or not name.startswith(("client", "portal client")):
            continue
        missing = answers[(service, method, path, name, "missing")]
        code = (reply.body or {}).get("error", {}).get("code") if isinstance(reply.body, dict) else None
        missing_code = (missing.body or {}).get("error", {}).get("code") if isinstance(missing.body, dict) else None
        if (reply.status, code) != (missing.status, missing_code):
            found.append(f"{method} {service}{path} as {name}: another organization's id answers "
                         f"{reply.status} {code}, a missing one {missing.status} {missing_code}")
    return found



# -- the portal's pages -----------------------------------------------------------------------------------
# Every route of the portal's router (billing_portal.entrypoints.http.PAGES) × {no session, staff admin, staff
# manager, client A, client B}, signed in with plain aiohttp as a browser does. No session: 303 to /login. A
# role a page does not name: 404 (the portal never shows that a page exists). A client on another
# organization's object: 404, as a missing one. Forms carry the session's CSRF token; a form an allowed person
# would send changes the world, so it is sent only where the table gives `own` (the browser tests send the
# others), while the refusals of every form are all sent.

@dataclass(frozen=True)
class Page:
    roles: tuple[str, ...]  # who may open it; "signed" is anyone signed in; () is open to all
    ids: str | None = None  # org, invoice, payment, method, run: the object the path names
    own: int | None = 200  # an allowed person on its own object; None: not sent (a form that changes the world)
    missing: int = 404
    none: int = 303  # no session: to /login (open pages: their own answer)
    permission: str | None = None  # what a client's profile must allow; a client without it: 404
    query: str = ""  # a query string, with the same names as the path's ids ("organization_id={organization_id}")
    serial: bool = False
    note: str = ""


ANY_SIGNED, CLIENT, STAFF_OR_CLIENT = ("signed",), ("client",), ("manager", "client")
PAGES: dict[tuple[str, str], Page] = {
    ("GET", "/"): Page(ANY_SIGNED, own=303, note="to the person's home"),
    ("GET", "/login"): Page((), own=303, none=200, note="signed in: to the person's home"),
    ("POST", "/login"): Page((), own=None, none=403, note="no form token: 403 Form expired"),
    ("GET", "/logout"): Page(ANY_SIGNED, own=303, serial=True, note="a session of its own, ended"),
    ("POST", "/logout"): Page(ANY_SIGNED, own=303, serial=True, note="a session of its own, ended"),
    ("GET", "/invitations/{token}"): Page((), own=404, none=404, note="open; an unknown link: 404 page"),
    ("POST", "/invitations/{token}"): Page((), own=404, none=403, note="open; no session: no form token"),
    ("GET", "/organizations"): Page(STAFF),
    ("GET", "/organizations/{organization_id}/invoices"): Page(STAFF, "org"),
    ("GET", "/invoices/{invoice_id}/contact"): Page(STAFF, "invoice", query="organization_id={organization_id}"),
    ("GET", "/pay/contact"): Page(STAFF, "invoice", query="organization_id={organization_id}&invoice={invoice_id}"),
    ("GET", "/portal/invoices"): Page(CLIENT, permission="view_invoices"),
    ("GET", "/portal/payments"): Page(CLIENT),
    ("GET", "/portal/wallet"): Page(CLIENT, permission="make_payments"),
    ("POST", "/portal/wallet"): Page(CLIENT, own=None, permission="make_payments"),
    ("GET", "/portal/wallet/{method_id}/remove"): Page(CLIENT, "method", permission="make_payments"),
    ("POST", "/portal/wallet/{method_id}/remove"): Page(CLIENT, "method", 303, serial=True, permission="make_payments",
                                                        note="a fresh stored method for each allowed cell"),
    ("GET", "/portal/quotes"): Page(CLIENT, permission="view_quotes"),
    ("GET", "/organizations/{organization_id}/autopay"): Page(STAFF, "org"),
    ("POST", "/organizations/{organization_id}/autopay"): Page(STAFF, "org", own=None),
    ("POST", "/organizations/{organization_id}/autopay/off"): Page(STAFF, "org", own=None),
    ("GET", "/portal/autopay"): Page(CLIENT, permission="autopay"),
    ("POST", "/portal/autopay"): Page(CLIENT, own=None, permission="autopay"),
    ("POST", "/portal/autopay/off"): Page(CLIENT, own=None, permission="autopay"),
    ("GET", "/reconciliation"): Page(ADMIN),
    ("POST", "/reconciliation"): Page(ADMIN, own=None),
    ("GET", "/reconciliation/{reconciliation_id}"): Page(ADMIN, "reconciliation"),
    ("POST", "/reconciliation/drifts/{drift_id}/repair"): Page(ADMIN, "drift", own=None),
    ("POST", "/reconciliation/drifts/{drift_id}/explain"): Page(ADMIN, "drift", own=None),
    ("GET", "/operations"): Page(ADMIN),
    ("GET", "/audit"): Page(ADMIN),
    ("GET", "/integrations"): Page(ADMIN),
    ("POST", "/integrations/{name:autotask|quickbooks}"): Page(ADMIN, own=None),
    ("POST", "/integrations/{name:autotask|quickbooks}/test"): Page(ADMIN, own=None),
    ("POST", "/integrations/sync/runs"): Page(ADMIN, own=None),
    ("GET", "/integrations/sync/runs/{run_id}"): Page(ADMIN, "run"),
    ("GET", "/integrations/{name:autotask|quickbooks}/delete"): Page(ADMIN),
    ("POST", "/integrations/{name:autotask|quickbooks}/delete"): Page(ADMIN, own=None),
    ("GET", "/settings/client-profiles"): Page(ADMIN),
    ("POST", "/settings/client-profiles"): Page(ADMIN, own=None),
    ("POST", "/settings/client-profiles/{profile_id:[0-9a-f-]{36}}"): Page(ADMIN, own=None),
    ("POST", "/settings/client-profiles/users/{user_id:[0-9a-f-]{36}}"): Page(ADMIN, own=None),
    ("GET", "/settings/client-profiles/invite"): Page(ADMIN),
    ("POST", "/settings/client-profiles/invite"): Page(ADMIN, own=None),
    ("GET", "/settings/payment-processing"): Page(ADMIN),
    ("POST", "/settings/payment-processing"): Page(ADMIN, own=None),
    ("POST", "/settings/payment-processing/test"): Page(ADMIN, own=None),
    ("GET", "/settings/invoice-image"): Page(ADMIN),
    ("POST", "/settings/invoice-image"): Page(ADMIN, own=None),
    ("GET", "/settings/notifications"): Page(ADMIN),
    ("POST", "/settings/notifications"): Page(ADMIN, own=None),
    ("GET", "/integrations/ticketing"): Page(ADMIN),
    ("POST", "/integrations/ticketing"): Page(ADMIN, own=None),
    ("POST", "/integrations/ticketing/test"): Page(ADMIN, own=None),
    ("GET", "/invoices/{invoice_id}"): Page(STAFF_OR_CLIENT, "invoice", permission="view_invoices"),
    ("GET", "/invoices/{invoice_id}/image"): Page(STAFF_OR_CLIENT, "invoice", permission="view_invoices"),
    ("GET", "/invoices/{invoice_id}/pay"): Page(STAFF_OR_CLIENT, "invoice", permission="make_payments"),
    ("GET", "/pay"): Page(STAFF_OR_CLIENT, "invoice", query="invoice={invoice_id}", permission="make_payments"),
    ("POST", "/invoices/{invoice_id}/pay"): Page(STAFF_OR_CLIENT, "invoice", own=None, permission="make_payments"),
    ("POST", "/pay"): Page(STAFF_OR_CLIENT, own=None, permission="make_payments"),
    ("GET", "/invoices/{invoice_id}/pay/result/{payment_id}"): Page(STAFF_OR_CLIENT, "payment"),
    ("GET", "/pay/result/{payment_id}"): Page(STAFF_OR_CLIENT, "payment"),
    ("GET", "/payments"): Page(STAFF),
    ("GET", "/payments/{payment_id}"): Page(STAFF_OR_CLIENT, "payment"),
    ("GET", "/payments/{payment_id}/{action:apply|refund|cancel}"): Page(STAFF, "payment"),
    ("POST", "/payments/{payment_id}/{action:apply|refund|cancel}"): Page(STAFF, "payment", own=None),
    ("GET", "/webhooks"): Page(ADMIN),
    ("POST", "/webhooks"): Page(ADMIN, own=None),
    ("GET", "/webhooks/{subscription_id}"): Page(ADMIN, "webhook"),
    ("POST", "/webhooks/{subscription_id}/enabled"): Page(ADMIN, "webhook", own=None),
    ("POST", "/webhooks/{subscription_id}/rotate"): Page(ADMIN, "webhook", own=None),
    ("POST", "/webhooks/{subscription_id}/delete"): Page(ADMIN, "webhook", own=None),
    ("POST", "/webhooks/{subscription_id}/replay"): Page(ADMIN, "webhook", own=None),
    ("POST", "/webhooks/messages/{message_id}/replay"): Page(ADMIN, "webhook_message", own=None),
}
PEOPLE = (Principal("no session", None), Principal("staff admin", "admin"), Principal("staff manager", "manager"),
          Principal("client A", "client", "A"), Principal("client B", "client", "B"),
          Principal("client A, no permissions", "client", "A", limited=True))
EMAILS = {"staff admin": "admin@msp.example", "staff manager": "manager@msp.example",
          "client A": "pat@acme.example", "client B": "lee@birch.example",
          "client A, no permissions": "nia@acme.example"}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def router_pages() -> set[tuple[str, str]]:
    from billing_portal.entrypoints.http import PAGES as modules

    return {(route.method, route.path) for module in modules for route in module.routes}  # type: ignore[attr-defined]


def page_expected(page: Page, who: Principal, kind: str | None) -> int | None:
    if who.role is None:
        return page.none
    if not page.roles:
        return page.own
    if "signed" not in page.roles and not (_IMPLIED[who.role] & set(page.roles)):
        return 404
    if who.limited and page.permission:
        return 404
    if kind == "missing":
        return page.missing
    if kind == "other" and who.role == "client":
        return 404
    return page.own


def page_kinds(page: Page) -> tuple[str | None, ...]:
    return (None,) if page.ids is None else ("own", "missing") \
        if page.ids in ("run", "reconciliation", "drift", "webhook", "webhook_message") \
        else ("own", "other", "missing")


async def page_path(world: AuthzWorld, page: Page, path: str, org: str | None, fresh: bool) -> str:
    ids = world.ids[org] if org else {}
    method = (await world.store_method(org) if fresh and org else ids.get("method", str(uuid.uuid4())))
    values = {"organization_id": ORG[org] if org else MISSING["org"],
              "invoice_id": ids.get("invoice", MISSING["invoice"]), "payment_id": ids.get("payment", str(uuid.uuid4())),
              "method_id": method, "run_id": world.run_id if org else str(uuid.uuid4()), "name": "quickbooks",
              "action": "refund", "token": "no-such-invitation", "profile_id": str(uuid.uuid4()),
              "user_id": str(uuid.uuid4()),
              "reconciliation_id": world.reconciliation_id if org else str(uuid.uuid4()),
              "drift_id": world.drift_id if org else str(uuid.uuid4()),
              "subscription_id": world.webhook_id if org else str(uuid.uuid4()),
              "message_id": world.webhook_message_id if org else str(uuid.uuid4())}
    filled = re.sub(r"{(\w+)(:[^{}]*(?:{\d+}[^{}]*)*)?}", lambda m: values[m.group(1)], path)
    return f"{filled}?{page.query.format(**values)}" if page.query else filled


@dataclass
class Person:
    who: Principal
    http: Any  # aiohttp.ClientSession with the session cookie
    csrf: str | None = None


async def sign_in(world: AuthzWorld, who: Principal) -> Person:
    import aiohttp

    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    person = Person(who, http)
    if who.role is None:
        return person
    portal = world.url("portal")
    async with http.get(f"{portal}/login") as answer:
        form_token = CSRF_FIELD.search(await answer.text()).group(1)  # type: ignore[union-attr]
    async with http.post(f"{portal}/login", data={"email": EMAILS[who.name], "password": "authz-test-password",
                                                  "csrf_token": form_token}, allow_redirects=False) as answer:
        assert answer.status == 303, (who.name, answer.status)
        home = answer.headers["Location"]
    async with http.get(f"{portal}{home}") as answer:
        assert answer.status == 200, (who.name, home, answer.status)
        person.csrf = CSRF_FIELD.search(await answer.text()).group(1)  # type: ignore[union-attr]
    return person


async def open_page(world: AuthzWorld, person: Person, method: str, path: str) -> tuple[int, str]:
    data = {"csrf_token": person.csrf} if method == "POST" and person.csrf else None
    async with person.http.request(method, world.url("portal") + path, data=data, allow_redirects=False) as answer:
        return answer.status, answer.headers.get("Location", "")


@pytest.mark.asyncio(loop_scope="module")
async def test_every_portal_page_answers_every_person_as_the_table_says(world: AuthzWorld) -> None:
    started = time.monotonic()
    routed = router_pages()
    assert routed - PAGES.keys() == set(), "portal routes without an entry in PAGES"
    assert PAGES.keys() - routed == set(), "entries of PAGES that the portal's router does not have"
    people = {p.name: await sign_in(world, p) for p in PEOPLE}
    try:
        results, wrong, limit = [], [], asyncio.Semaphore(6)

        async def one(route: tuple[str, str], page: Page, who: Principal, kind: str | None) -> None:
            want = page_expected(page, who, kind)
            if want is None:
                return
            org = target_org(who, kind)
            fresh = page.serial and want == page.own and who.role is not None
            path = await page_path(world, page, route[1], org, fresh)
            person = await sign_in(world, who) if page.serial and route[1] == "/logout" else people[who.name]
            status, location = await open_page(world, person, route[0], path)
            results.append((route, who, kind, status))
            if status != want or (who.role is None and want == 303 and not location.startswith("/login")):
                wrong.append(f"{route[0]} {path} as {who.name}" + (f" on {kind} id" if kind else "")
                             + f": {status} {location} (expected {want})")
            if person is not people[who.name]:
                await person.http.close()

        async def bounded(*args: Any) -> None:
            async with limit:
                await one(*args)

        cells = [(route, page, who, kind) for route, page in PAGES.items() for who in PEOPLE
                 for kind in page_kinds(page)]
        await asyncio.gather(*(bounded(*c) for c in cells if not c[1].serial))
        for cell in cells:
            if cell[1].serial:
                await one(*cell)
    finally:
        for person in people.values():
            await person.http.close()
    summary = (f"portal matrix: {len(results)} cells over {len(PAGES)} routes and {len(PEOPLE)} people "
               f"in {time.monotonic() - started:.1f}s; {len(wrong)} wrong")
    print(summary)
    assert not wrong, summary + "\n" + "\n".join(wrong)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_confirm_page_of_a_payment_that_does_not_exist_is_not_found(world: AuthzWorld) -> None:
    """Found by the portal matrix: staff were asked to confirm a refund of a payment nobody has (200)."""
    manager = await sign_in(world, Principal("staff manager", "manager"))
    try:
        status, _ = await open_page(world, manager, "GET", f"/payments/{uuid.uuid4()}/refund")
    finally:
        await manager.http.close()
    assert status == 404


LIMITED = "portal client A, no permissions"


@pytest.mark.asyncio(loop_scope="module")
async def test_a_client_whose_profile_does_not_allow_invoices_cannot_fetch_an_invoice_image(world: AuthzWorld) -> None:
    """Found by the matrix: sync handed the invoice's PDF to a client without View Invoices (200)."""
    reply = await world.call("sync", "GET", f"/v1/invoices/{world.ids['A']['invoice']}/image", who=LIMITED)
    assert reply.status == 403, reply.status


@pytest.mark.asyncio(loop_scope="module")
async def test_a_client_whose_profile_does_not_allow_payments_cannot_list_the_wallet(world: AuthzWorld) -> None:
    """Found by the matrix: payments listed the stored methods to a client without Make Payments (200)."""
    reply = await world.call("payments", "GET", f"/v1/organizations/{ORG['A']}/wallet", who=LIMITED)
    assert reply.status == 403, reply


@pytest.mark.asyncio(loop_scope="module")
async def test_the_portal_does_not_show_an_invoice_image_to_a_client_without_view_invoices(world: AuthzWorld) -> None:
    """Found by the portal matrix: the invoice image page served the PDF to a client without View Invoices."""
    person = await sign_in(world, Principal("client A, no permissions", "client", "A", limited=True))
    try:
        status, _ = await open_page(world, person, "GET", f"/invoices/{world.ids['A']['invoice']}/image")
    finally:
        await person.http.close()
    assert status == 404


@pytest.mark.asyncio(loop_scope="module")
async def test_a_client_whose_profile_allows_nothing_lands_on_a_page_it_may_open(world: AuthzWorld) -> None:
    """Found by the portal matrix: signing in led to /portal/quotes, which such a client may not open (404)."""
    import aiohttp

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        portal = world.url("portal")
        async with http.get(f"{portal}/login") as answer:
            form_token = CSRF_FIELD.search(await answer.text()).group(1)  # type: ignore[union-attr]
        async with http.post(f"{portal}/login", data={"email": "nia@acme.example", "password": "authz-test-password",
                                                      "csrf_token": form_token}) as answer:
            assert (answer.status, answer.url.path) == (200, "/portal/payments")


@pytest.mark.asyncio(loop_scope="module")
async def test_several_invoices_in_one_payment_never_show_another_organizations_invoice(world: AuthzWorld) -> None:
    """The body's other form (`invoices`): a client naming another organization's invoice among its own is
    answered as if that invoice did not exist, and nothing is charged."""
    async def sales() -> int:
        async with world.http.get(f"{world.gateway}/_sim/transactions") as answer:
            return sum(1 for t in await answer.json() if t["type"] == "sale")

    before, answers = await sales(), {}
    for name, org in (("client A token", "A"), ("client B token", "B"), ("portal client A", "A"),
                      ("portal client B", "B")):
        other = world.ids["B" if org == "A" else "A"]["invoice"]
        for kind, second in (("other", other), ("missing", MISSING["invoice"])):
            body = {"invoices": [{"invoice_id": world.ids[org]["invoice"], "amount": "1.00"},
                                 {"invoice_id": second, "amount": "1.00"}],
                    "payment_method": {"token": "tok_visa_approved"}}
            reply = await world.call("payments", "POST", "/v1/payments", body, who=name,
                                     headers={"Idempotency-Key": str(uuid.uuid4())})
            answers[(name, kind)] = (reply.status, (reply.body or {}).get("error", {}).get("code"))
    assert all(answer == (404, "not_found") for answer in answers.values()), answers
    assert await sales() == before


@pytest.mark.asyncio(loop_scope="module")
async def test_a_stored_method_of_another_organization_pays_nothing(world: AuthzWorld) -> None:
    """The other id a payment names (`payment_method.method_id`): another organization's stored method is
    answered as a missing one, for clients and staff alike, and nothing is charged."""
    answers = {}
    for name, org in (("client A token", "A"), ("portal client B", "B"), ("manager token", "A"),
                      ("portal admin", "B")):
        other = world.ids["B" if org == "A" else "A"]["method"]
        for kind, method in (("other", other), ("missing", str(uuid.uuid4()))):
            body = {"invoice_id": world.ids[org]["invoice"], "amount": "1.00", "payment_method": {"method_id": method}}
            if not name.startswith(("client", "portal client")):
                body["contact_id"] = CONTACT[org]
            reply = await world.call("payments", "POST", "/v1/payments", body, who=name,
                                     headers={"Idempotency-Key": str(uuid.uuid4())})
            answers[(name, kind)] = (reply.status, (reply.body or {}).get("error", {}).get("code"))
    assert all(answer == (404, "not_found") for answer in answers.values()), answers
