"""Schemathesis against every service's /openapi.json with each role's token (issue 11, fuzzing of the
APIs): no 5xx, every error in CONTRACT.md's shape, no error carrying library internals.

The services run as real processes (sync, payments, notifications, portal) on the session's Kafka and
Postgres, with the gateway simulator in this process and payment processing active. A seeded world
(invoices of two organizations, payments, a stored method, real cursors) is put into the documents as
values the generator picks often, so requests reach past the "not found" checks. Generation is
derandomized and bounded per operation, so a CI run is reproducible and takes a minute or two. Every
answer is also checked against what its document says of it (schemathesis's response schema check). Changes
to payment-processing settings are undone after each one, so a later case never depends on what an
earlier one stored; the assertions hold whatever the state.

`-s` prints the figures: operations, requests, statuses, failures."""
from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from typing import Any

import pytest
import pytest_asyncio
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from billing_simulators.gateway.webhooks import sign
from tests.e2e.conftest import ADMIN, CLIENT, MANAGER, auth
from tests.e2e.payments_support import ACTIVE_SETTINGS, SIGNING_KEY, new_world
from tests.fuzz.api_fuzz_support import Figures, fuzzable, odd_cursors, problems
from tests.support import eventually

# The module's loop runs the gateway simulator: the test must run on it too.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

ROLES = {"admin": ADMIN, "manager": MANAGER, "client": CLIENT}
SERVICES = ("sync", "payments", "notifications", "portal")
# Examples per operation, role and mode: the roles an operation documents get the full budget, the
# others (refused before the handler) a few. API_FUZZ_EXAMPLES raises the budget for a long local run.
ALLOWED_EXAMPLES, REFUSED_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "60")), 2
SETTINGS_PATH = "/v1/settings/payment-processing"
WEBHOOK_PATH = "/v1/webhooks/gateway"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fuzz_world(infra, tmp_path_factory):
    # A generous gateway timeout: on a busy machine a slow simulator must not read as `gateway_unavailable`.
    world = await new_world(infra, tmp_path_factory.mktemp("fuzz"), GATEWAY_TIMEOUT_SECONDS="10")
    try:
        await world.configure()
        await world.start_service("notifications", "billing_notifications")
        await world.start_service("portal", "billing_portal", IDENTITY_KEY=uuid.uuid4().hex * 2,
                                  SYNC_URL=world.urls["sync"], PAYMENTS_URL=world.urls["payments"],
                                  NOTIFICATIONS_URL=world.urls["notifications"])
        known = await _seed(world)
        yield world, known
    finally:
        await world.stop()


async def _seed(world) -> dict[str, list[Any]]:
    """Objects for the fuzzer to find: open, part-paid and other-organization invoices, payments by staff
    and by the client, a stored method, and the cursors of real second pages."""
    own = [await world.invoice(total) for total in ("500.00", "120.00", "75.50")]
    other = await world.invoice("90.00", organization="679")
    no_number = await world.invoice("40.00", number=None)
    key = str(uuid.uuid4())
    by_staff = await world.pay(own[0], amount="100.00", key=key)
    assert by_staff.status == 201, by_staff
    by_client = await world.pay(own[1], amount="20.00", as_=CLIENT)
    assert by_client.status == 201, by_client
    method = await world.call("POST", "/v1/organizations/autotask:678/wallet", MANAGER,
                              {"token": "tok_visa_approved", "contact_id": await world.payer("autotask:678")})
    assert method.status == 201, method
    await world.payer("autotask:679")
    voided = await world.invoice("60.00")  # paid, then voided upstream: its payment's money is unapplied
    unapplied = await world.pay(voided)
    assert unapplied.status == 201, unapplied
    await world.void(voided)
    await eventually(lambda: _unapplied(world, unapplied.body["payment_id"]), timeout=30)
    cancelled = await world.pay(await world.invoice("30.00"))  # a payment in each end state too
    assert (await world.call("POST", f"/v1/payments/{cancelled.body['payment_id']}/cancel")).status == 200
    declined = await world.pay(await world.invoice("35.00"), "tok_visa_declined")
    assert declined.status == 402, declined
    staff_payer = await world.payer("autotask:678")
    good_payments = [
        {"invoice_id": own[2], "amount": "1.00", "contact_id": staff_payer, "payment_method": {"token": token}}
        for token in ("tok_visa_approved", "tok_echeck_approved", "tok_visa_declined")] + [
        {"invoice_id": own[2], "amount": "0.50", "payment_method": {"method_id": method.body["method_id"]},
         "contact_id": staff_payer},
        {"invoices": [{"invoice_id": own[0], "amount": "1.00"}, {"invoice_id": own[2], "amount": "2.00"}],
         "contact_id": staff_payer, "payment_method": {"token": "tok_visa_approved", "save_to_wallet": True}},
        {"invoice_id": own[1], "amount": "1.00", "payment_method": {"token": "tok_visa_approved"}},  # as the client
        {"invoice_id": other, "amount": "1.00", "contact_id": "autotask:payer-679",
         "payment_method": {"token": "tok_visa_approved"}}]
    cursors = odd_cursors()
    for service, path in (("payments", "/v1/payments"), ("payments", "/v1/invoices")):
        page = await world.call("GET", f"{path}?limit=1", MANAGER, service=service)
        assert page.status == 200 and page.body["next_cursor"], page
        cursors.append(page.body["next_cursor"])
    payments = [by_staff.body["payment_id"], by_client.body["payment_id"], unapplied.body["payment_id"],
                cancelled.body["payment_id"], declined.body["error"]["details"]["payment_id"]]
    sales = [p.body["transaction_id"] for p in (by_staff, by_client, unapplied, cancelled)]
    orders = [p.body["order_id"] for p in (by_staff, by_client, unapplied, cancelled)]
    invoices = [*own, other, no_number, voided]
    return {
        "payment_id": payments, "invoice_id": invoices, "id": [*invoices, "autotask:678", "autotask:679"],
        "organization_id": ["autotask:678", "autotask:679"], "contact_id": ["autotask:901", "autotask:payer-678"],
        "method_id": [method.body["method_id"]], "name": ["autotask", "quickbooks"],
        "token": ["tok_visa_approved", "tok_visa_declined", "tok_echeck_approved", "tok_visa_unsettled"],
        "status": ["open", "paid", "voided", "pending", "succeeded", "failed", "cancelled", "charged_back", "OPEN"],
        "q": ["", "acme", "Organization 678", "\\", "a\\", "%", "_", "%_\\%", "\u00dcn\u00efc\u00f8d\u00e9",
              "\U0001f600", "' OR 1=1 --", "a" * 600],
        "type": ["payment.succeeded", "payment.failed", "email", "ticket", "sync.failed", "nothing.known"],
        "good_payments": good_payments, "idempotency_key": [key], "cursors": cursors, "transaction_id": sales, "order_id": orders,
    }


async def _unapplied(world, payment_id: str) -> bool:
    return (await world.payment(payment_id))["unapplied_amount"] != "0.00"


def _fuzz_service(base_url: str, known: dict[str, list[Any]], figures: Figures) -> None:
    """Every operation of one service, each role, positive and negative generation (runs in a thread:
    schemathesis calls are blocking, and the gateway simulator lives on the test's event loop)."""
    session = requests.Session()
    spec = session.get(f"{base_url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(fuzzable(spec, known, known["cursors"]))
    figures.documents[base_url] = len(spec["paths"])
    for result in schema.get_all_operations():
        operation = result.ok()
        allowed = _roles(operation.definition.raw)
        for role, token in ROLES.items():
            budget = ALLOWED_EXAMPLES if role in allowed else REFUSED_EXAMPLES
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode, budget, base_url, session, token, role, figures)


def _roles(definition: dict[str, Any]) -> set[str]:
    described = definition.get("description", "")
    if not described.startswith("Roles: "):
        return set(ROLES)  # an open route (the gateway's webhook): every role fuzzes it fully
    return {r.strip() for r in described.removeprefix("Roles: ").split(",")}


class _Reply:
    """A requests response in the shape of schemathesis's (lower-case header names, lists of values)."""

    def __init__(self, response: requests.Response) -> None:
        self.status_code, self.text = response.status_code, response.text
        self.headers = {k.lower(): [v] for k, v in response.headers.items()}


def _signed(case, base_url: str, session: requests.Session) -> _Reply:
    """A webhook as the gateway would send it, signed, so the fuzzed body is read past the signature."""
    raw = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    headers = {"Content-Type": "application/json", "Webhook-Signature": sign(raw, SIGNING_KEY)}
    return _Reply(session.post(f"{base_url}{WEBHOOK_PATH}", data=raw, headers=headers, timeout=20))


def _example(case) -> str:
    return (f"{case.method} {case.formatted_path} query={case.query!r} headers={case.headers!r} "
            f"body={case.body!r}"[:1500])


def _run(operation, mode, budget: int, base_url: str, session: requests.Session, token: str, role: str,
         figures: Figures) -> None:
    label = f"{role} {operation.label}"

    @settings(max_examples=budget, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def each(case) -> None:
        case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        started = time.monotonic()
        try:
            if case.path == WEBHOOK_PATH:
                response = _signed(case, base_url, session)
            else:
                response = case.call(base_url=base_url, session=session, headers=auth(token), timeout=20)
        except requests.RequestException as exc:
            figures.fail(label, f"no answer: {type(exc).__name__}", _example(case))
            return
        figures.record(label, response.status_code, time.monotonic() - started, response.text, _example(case))
        content_type = (response.headers.get("content-type") or [""])[0]
        for problem in problems(response.status_code, content_type, response.text):
            figures.fail(label, problem, f"{_example(case)}\n  -> {response.status_code} {response.text[:300]}")
        if case.path != WEBHOOK_PATH:
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except (AssertionError, FailureGroup) as exc:  # one failure, or several
                figures.fail(label, f"answer does not match its documented schema: {str(exc).splitlines()[0][:200]}",
                             f"{_example(case)}\n  -> {response.status_code} {response.text[:300]}\n  {str(exc)[:600]}")
        if case.method == "PUT" and case.path == SETTINGS_PATH and response.status_code < 300:
            restored = session.put(f"{base_url}{SETTINGS_PATH}", json=ACTIVE_SETTINGS, headers=auth(ADMIN), timeout=20)
            assert restored.status_code == 200, restored.text

    try:
        each()
    except Unsatisfiable:  # negative mode on an operation with nothing that can be made invalid
        pass


# Bodies no JSON schema describes: bytes that are not UTF-8, other charsets and media types, duplicate keys,
# nesting and numbers past the parser's limits, a compressed body that is not, a lone surrogate (valid
# JSON, not encodable as UTF-8).
ODD_BODIES = [
    ({"Content-Type": "application/json"}, b'\xff\xfe{"a": 1}'),
    ({"Content-Type": "application/json; charset=utf-16"}, '{"a": 1}'.encode("utf-16")),
    ({"Content-Type": "text/plain"}, b"{}"),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=2"),
    ({"Content-Type": "application/json"}, b'{"a": 1, "a": 2}'),
    ({"Content-Type": "application/json"}, b"[" * 50_000),
    ({"Content-Type": "application/json"}, b"1" * 5000),
    ({"Content-Type": "application/json"}, b'{"amount": 1e400, "total": -1e400}'),
    ({"Content-Type": "application/json", "Content-Encoding": "gzip"}, b"not gzip at all"),
    ({"Content-Type": "application/merge-patch+json"}, b"{}"),
    ({"Content-Type": "application/json"}, b'"\\ud800"'),
]


def _odd_requests(base_url: str, known: dict[str, list[Any]], figures: Figures) -> None:
    """Every POST and PUT with each odd body, and every operation with a lone surrogate in each string
    field, path segment and query value, as each role."""
    session = requests.Session()
    spec = session.get(f"{base_url}/openapi.json", timeout=10).json()
    components = spec.get("components", {}).get("schemas", {})
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            concrete = re.sub(r"{(\w+)}", lambda m: str((known.get(m.group(1)) or ["x"])[0]), path)
            ref = (op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
                   .get("$ref", ""))
            fields = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {})) if ref else []
            sends: list[tuple[str, dict[str, str], bytes]] = []
            if method in ("post", "put"):
                sends += [(concrete, headers, body) for headers, body in ODD_BODIES]
                surrogate = "{" + ", ".join(f'"{f}": "\\ud800"' for f in fields) + "}"
                sends.append((concrete, {"Content-Type": "application/json"}, surrogate.encode()))
            sends.append((re.sub(r"{(\w+)}", "%ED%A0%80", path), {}, b""))  # a path segment not UTF-8
            sends.append((f"{concrete}?q=%ED%A0%80&status=%ED%A0%80&cursor=%ED%A0%80&organization_id=%ED%A0%80",
                          {}, b""))
            for role, token in ROLES.items():
                for url_path, headers, body in sends:
                    label = f"{role} {method.upper()} {path}"
                    headers = {**headers, **auth(token), "Idempotency-Key": str(uuid.uuid4())}
                    started = time.monotonic()
                    example = f"{method.upper()} {url_path[:200]} headers={headers} body={body[:200]!r}"
                    try:
                        response = session.request(method, f"{base_url}{url_path}", data=body or None,
                                                   headers=headers, timeout=20)
                    except requests.RequestException as exc:
                        figures.fail(label, f"odd request: no answer: {type(exc).__name__}", example)
                        session = requests.Session()
                        continue
                    figures.record(label, response.status_code, time.monotonic() - started, response.text, example)
                    for problem in problems(response.status_code, response.headers.get("Content-Type", ""),
                                            response.text):
                        figures.fail(label, f"odd request: {problem}",
                                     f"{example}\n  -> {response.status_code} {response.text[:300]}")


async def test_every_api_answers_fuzzed_requests_within_the_contract(fuzz_world) -> None:
    world, known = fuzz_world
    started = time.monotonic()
    figures = Figures()
    for service in SERVICES:
        await asyncio.to_thread(_fuzz_service, world.urls[service], known, figures)
        await asyncio.to_thread(_odd_requests, world.urls[service], known, figures)
        print(f"\n[api fuzz] {service}: {figures.documents[world.urls[service]]} paths in its document; "
              f"so far {figures.line()} in {time.monotonic() - started:.0f}s")
    print(figures.table())
    if os.environ.get("API_FUZZ_SAMPLES"):  # one request and answer per operation, status and error code
        print("\n".join(f"{key}: {example}" for key, example in sorted(figures.samples.items())))
    report = "\n\n".join(f"{label}: {problem}\n  {example}" for (label, problem), example in figures.failures.items())
    assert not figures.failures, f"{len(figures.failures)} contract failures:\n\n{report}"
    # The fuzzer reached every service's operations, and past the refusals into the handlers.
    assert len({label.split(" ", 1)[1] for label in figures.operations}) >= 40, figures.line()
    assert figures.statuses["2xx"] > 100, figures.line()
    assert figures.by_operation["POST /v1/payments"]["201"] > 0, figures.by_operation["POST /v1/payments"]
    assert figures.by_operation["POST /v1/webhooks/gateway"]["200"] > 0  # signed, read past the signature
