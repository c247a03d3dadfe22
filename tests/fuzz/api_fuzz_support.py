"""What the API fuzzer (test_api_fuzz.py) needs besides schemathesis: the services' documents made
fuzzable deeper (known ids, real and tampered cursors, the Idempotency-Key header, list filters), the
checks every response must pass, and the figures of a run."""
from __future__ import annotations

import base64
import copy
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# Query parameters of the lists (CONTRACT.md "Lists"); the documents only carry path parameters, so the
# fuzzer adds these to every GET (a parameter a route does not read is ignored, which is also worth a try).
LIST_QUERY = ("organization_id", "invoice_id", "status", "from", "to", "q", "type")
# Path and body fields that name stored objects: the fuzzer picks a seeded one often, anything else too.
ID_NAMES = ("id", "payment_id", "invoice_id", "organization_id", "contact_id", "method_id", "delivery_id", "name",
            "token")

SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
# What an error body must never carry: library names, their documentation, stack traces, SQL.
LEAKS = re.compile(
    r"errors\.pydantic\.dev|pydantic|ValidationError|Traceback|File \"|line \d+, in |asyncpg|aiohttp|aiokafka"
    r"|psycopg|sqlstate|\bSELECT\b.+\bFROM\b|\bINSERT INTO\b|\bUPDATE\b.+\bSET\b|\bDELETE FROM\b|syntax error at"
    r"|violates .* constraint|relation \"|\bException\b|Error\(|object has no attribute|NoneType|KeyError"
    r"|TypeError|ValueError|JSONDecodeError|UnicodeDecodeError|json\.decoder",
    re.IGNORECASE)


def odd_cursors() -> list[str]:
    """Cursors this API never handed out, in the shape of those it does: each must be a 422, never a 500."""
    def enc(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
    return [enc(v) for v in ([], [None], [2**64], [-1], [1.5], ["x" * 5000], ["2026-13-45", "k"], ["9999-12-31", 7],
                             ["2026-11-27T10:00:00", "not-a-uuid"], ["2026-11-27T10:00:00+00:00", "0" * 32],
                             ["10000-01-01T00:00:00+00:00", "00000000-0000-0000-0000-000000000000"],
                             {"a": 1}, "text", [["nested"]], ["\u0000"], ["\ud7ff\U0001f600"], [True])] + [
        "!!!", "=", "AAAA", "eyJ", "W10", "%00"]


# Ids that name nothing, in the forms a caller might try: with the seeded ones, what positive cases pick
# from (a union with "any string" would be simplified into "any string", and seeded ids never come up);
# negative cases send anything else.
ODD_IDS = ["autotask:999999", "", "a" * 2000, "autotask:\u00e9\U0001f600", "' OR 1=1 --",
           "00000000-0000-0000-0000-000000000000"]


def _pick(known: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
    return {"enum": [*known, *ODD_IDS]} if known else schema


# Amounts: well-formed ones mostly, and the odd ones a caller may send (too many places, exponents,
# non-finite, huge, negative, other digits, spaces).
ODD_AMOUNTS = ["0.00", "-1.00", "0.001", "1e3", "1E+2", "NaN", "Infinity", "-0", "99999999999999999999999.99",
               "1" * 400, "1,00", " 1.00", "\u0663.\u0660\u0660", "", 1.5, 10**30, True, None]
AMOUNT = {"anyOf": [{"type": "string", "pattern": "^[0-9]{1,4}\\.[0-9]{2}$"},
                    {"enum": ["0.01", "1.00", "5.00", "20.00", "75.50", *ODD_AMOUNTS]}]}
ODD_LIMITS = [0, -1, 501, 2**63, "ten", "1.5", " 5", "", "٣"]
ODD_DATES = ["2026-02-30", "0000-01-01", "9999-12-31", "2026-11-27T10:00:00Z", "yesterday", "2026-1-1"]
WEBHOOK_TYPES = ["transaction.sale.success", "transaction.sale.failure", "transaction.sale.unknown",
                 "transaction.check.status.return", "transaction.check.status.latereturn",
                 "settlement.batch.failure", "chargeback.batch.complete", "transaction.refund.success",
                 "something.else"]


def _bodies(known: dict[str, list[Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies closer to what the handlers accept than the models' JSON schemas say (those cannot say
    "invoice_id or invoices", nor a gateway's signed webhook), so that positive cases get past the
    first checks; negative cases then break them one part at a time."""
    def pick(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return _pick(known.get(name, []), schema or {"type": "string"})
    method = {"oneOf": [
        {"type": "object", "required": ["method_id"], "additionalProperties": False,
         "properties": {"method_id": pick("method_id")}},
        {"type": "object", "required": ["token"], "additionalProperties": False,
         "properties": {"token": pick("token"), "save_to_wallet": {"type": "boolean"}}}]}
    one = {"type": "object", "required": ["invoice_id", "payment_method"], "additionalProperties": False,
           "properties": {"invoice_id": pick("invoice_id"), "amount": AMOUNT, "contact_id": pick("contact_id"),
                          "payment_method": method}}
    several = {"type": "object", "required": ["invoices", "payment_method"], "additionalProperties": False,
               "properties": {"invoices": {"type": "array", "minItems": 1, "maxItems": 4, "items": {
                   "type": "object", "required": ["invoice_id"], "additionalProperties": False,
                   "properties": {"invoice_id": pick("invoice_id"), "amount": AMOUNT}}},
                   "contact_id": pick("contact_id"), "payment_method": method}}
    action = {"type": "object", "required": ["action_type"], "properties": {
        "action_type": {"anyOf": [{"enum": ["sale", "refund", "credit", "settle", "check_return", "void"]},
                                  {"type": "string"}]},
        "amount": AMOUNT, "success": {"enum": ["1", "0", "", True, None, 2]}, "date": {"type": "string"},
        "response_text": {"type": "string"}, "response_code": {"type": ["string", "integer"]}}}
    webhook = {"type": "object", "required": ["event_id", "event_type", "event_body"], "properties": {
        "event_id": {"type": "string"},
        "event_type": {"anyOf": [{"enum": WEBHOOK_TYPES}, {"type": "string"}]},
        "event_body": {"type": "object", "required": ["transaction_id"], "properties": {
            "transaction_id": pick("transaction_id"), "order_id": pick("order_id"),
            "requested_amount": AMOUNT, "currency": {"anyOf": [{"enum": ["USD", "EUR", ""]}, {"type": "string"}]},
            "condition": {"type": "string"}, "transaction_type": {"enum": ["cc", "ck", "", "zz"]},
            "action": action}}}}
    good = known.get("good_payments", [])  # whole bodies that pay, for positive cases to reach the gateway
    return {
        ("post", "/v1/payments"): {"anyOf": [{"enum": good}, {"oneOf": [one, several]}]} if good
        else {"oneOf": [one, several]},
        ("post", "/v1/payments/{payment_id}/apply"): {
            "type": "object", "required": ["invoice_id"], "additionalProperties": False,
            "properties": {"invoice_id": pick("invoice_id"), "keep_remainder": {"type": "boolean"}}},
        ("post", "/v1/payments/{payment_id}/refund"): {
            "type": "object", "additionalProperties": False, "properties": {"amount": AMOUNT}},
        ("post", "/v1/webhooks/gateway"): webhook,
    }


def fuzzable(spec: dict[str, Any], known: dict[str, list[Any]], cursors: list[str]) -> dict[str, Any]:
    """A copy of an /openapi.json that steers generation to seeded objects, real and odd cursors, odd
    limits and dates, the list filters, the Idempotency-Key header of POST /v1/payments, and bodies
    that get past the first checks."""
    spec = copy.deepcopy(spec)
    bodies = _bodies(known)
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            op.pop("security", None)  # the fuzzer sends each role's token itself, on every case
            params = op.setdefault("parameters", [])
            for param in params:
                if param["in"] == "path":
                    param["schema"] = _pick(known.get(param["name"], []), param["schema"])
            if method == "get" and "{" not in path:  # a list
                params.append({"name": "limit", "in": "query", "required": False,
                               "schema": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 500},
                                                    {"enum": ODD_LIMITS}]}})
                params.append({"name": "cursor", "in": "query", "required": False,
                               "schema": _pick(cursors, {"type": "string"})})
                for name in LIST_QUERY:
                    schema = {"anyOf": [{"type": "string", "format": "date"}, {"enum": ODD_DATES}]} \
                        if name in ("from", "to") else {"type": "string"}
                    params.append({"name": name, "in": "query", "required": False,
                                   "schema": _pick(known.get(name, []), schema)})
            if method == "post" and (path == "/v1/payments" or path.endswith(("/apply", "/refund", "/cancel"))):
                params.append({"name": "Idempotency-Key", "in": "header", "required": path == "/v1/payments",
                               "schema": {"type": "string", "minLength": 1, "maxLength": 300}})
            if (method, path) in bodies:
                op["requestBody"] = {"required": True,
                                     "content": {"application/json": {"schema": bodies[(method, path)]}}}
    components = spec.get("components", {}).get("schemas", {})
    for schema in (components[name] for name in _request_models(spec)):
        for name, prop in (schema.get("properties") or {}).items():
            if name in ID_NAMES and known.get(name):
                schema["properties"][name] = _pick(known[name], prop)
    return spec


def _request_models(spec: dict[str, Any]) -> set[str]:
    """The component schemas request bodies use (directly or nested): only these are steered, so the
    answers are still checked against the documents as they are."""
    found: set[str] = set()
    stack: list[Any] = [op.get("requestBody") for methods in spec.get("paths", {}).values() for op in methods.values()]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            ref = item.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in found:
                found.add(ref.rsplit("/", 1)[1])
                stack.append(spec["components"]["schemas"][ref.rsplit("/", 1)[1]])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@dataclass
class Figures:
    """What a fuzzing run tried and what it found."""
    documents: dict[str, int] = field(default_factory=dict)  # service URL -> paths in its /openapi.json
    operations: set[str] = field(default_factory=set)  # "role METHOD /path" tried
    examples: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)  # (operation, problem) -> first example
    by_operation: dict[str, Counter] = field(default_factory=dict)  # operation -> status -> count
    seconds: Counter = field(default_factory=Counter)  # operation -> time spent
    samples: dict[tuple[str, int, str, str], str] = field(default_factory=dict)  # (operation, status, code, message) -> example

    def record(self, label: str, status: int, seconds: float, text: str, example: str) -> None:
        """One request tried: its status and error code are counted per operation, and the first request of
        each kept as a sample."""
        self.operations.add(label)
        self.examples += 1
        self.statuses[f"{status // 100}xx"] += 1
        operation = label.split(" ", 1)[1]
        code = text.split('"code": "', 1)[1].split('"', 1)[0] if status >= 400 and '"code": "' in text else ""
        self.by_operation.setdefault(operation, Counter())[f"{status} {code}".strip()] += 1
        self.seconds[operation] += seconds
        message = text.split('"message": "', 1)[1][:30] if '"message": "' in text else ""
        self.samples.setdefault((operation, status, code, message), f"{example}\n    -> {text[:300]}")

    def table(self) -> str:
        return "\n".join(f"  {op:60} {self.seconds[op]:5.1f}s {dict(sorted(statuses.items()))}"
                         for op, statuses in sorted(self.by_operation.items()))

    def fail(self, label: str, problem: str, example: str) -> None:
        self.failures.setdefault((label, problem), example)

    def line(self) -> str:
        return (f"{len(self.operations)} operation×role pairs, {self.examples} requests "
                f"({dict(sorted(self.statuses.items()))}), {len(self.failures)} failures")


def problems(status: int, content_type: str, text: str) -> list[str]:
    """Why a response breaks the contract: a 5xx, an error not in `{"error": {"code", "message",
    "details"}}`, or an error that carries a library's internals."""
    found = []
    if status >= 500:
        found.append(f"status {status}")
    if status < 400:
        return found
    try:
        body = json.loads(text)
    except ValueError:
        return [*found, "error body is not JSON"]
    error = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(body, dict) and set(body) == {"error"} and isinstance(error, dict)
            and set(error) == {"code", "message", "details"} and isinstance(error["code"], str)
            and SNAKE.match(error["code"]) and isinstance(error["message"], str) and error["message"]
            and isinstance(error["details"], dict)):
        found.append("error body not in the contract's shape")
    elif LEAKS.search(error["message"]) or LEAKS.search(json.dumps(error["details"])):
        found.append("error carries internals")
    if not content_type.startswith("application/json"):
        found.append(f"error content type {content_type}")
    return found
