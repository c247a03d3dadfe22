"""Seeding through /_sim/: rows in the PSA's own field names, one at a time or
in bulk (benchmarks seed 2,000 companies, 20,000 contacts, 100,000 invoices).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .state import STATE, SimState, sim_error
from .values import ValueProblem, now_stamp

COLLECTIONS = {
    "companies": "Companies", "contacts": "Contacts", "contracts": "Contracts",
    "tickets": "Tickets", "opportunities": "Opportunities", "invoices": "Invoices",
    "billing_items": "BillingItems", "billingitems": "BillingItems",
}
# Bulk seed keys, parents first so references read naturally.
BULK_KEYS = {
    "companies": "Companies", "contacts": "Contacts", "contracts": "Contracts",
    "opportunities": "Opportunities", "tickets": "Tickets", "invoices": "Invoices",
    "billingItems": "BillingItems", "billing_items": "BillingItems",
}


class SeedProblem(ValueError):
    pass


def collection_of(request: web.Request) -> str:
    entity = COLLECTIONS.get(request.match_info["collection"].lower())
    if entity is None:
        raise web.HTTPNotFound(text=json.dumps({"error": {
            "code": "not_found", "message": "unknown collection", "details": {}}}),
            content_type="application/json")
    return entity


async def read_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except json.JSONDecodeError:
        raise SeedProblem("body is not valid JSON") from None


def _build_rows(state: SimState, entity: str, fields: dict[str, Any], now: str
                ) -> list[tuple[str, dict[str, Any]]]:
    """One seed object -> rows to insert: invoices may carry `lines`
    (BillingItems fields), and their total defaults to the lines' sum."""
    if not isinstance(fields, dict):
        raise SeedProblem(f"{entity} seed must be an object")
    store = state.store
    lines = fields.get("lines") if entity == "Invoices" else None
    if lines and not fields.get("id"):  # the lines need the invoice id now
        fields = {**fields, "id": store.table("Invoices").next_id}
    row = store.build_row(store.table(entity).spec, fields, now)
    if entity == "Tickets":
        row.setdefault("ticketNumber", state.next_ticket_number(now))
        row.setdefault("creatorResourceID", state.config.api_resource_id)
    rows = [(entity, row)]
    for line in lines or ():
        if not isinstance(line, dict):
            raise SeedProblem("invoice lines must be objects")
        item = {"companyID": row.get("companyID"), **line, "invoiceID": row["id"]}
        if item.get("extendedPrice") is None and line.get("rate") is not None:
            item["extendedPrice"] = float(line.get("quantity", 1)) * float(line["rate"])
        rows.append(("BillingItems", store.build_row(store.table("BillingItems").spec, item, now)))
    if lines and not any(k.lower() == "invoicetotal" for k in fields):
        row["invoiceTotal"] = round(sum(r.get("extendedPrice") or 0.0
                                        for e, r in rows if e == "BillingItems"), 2)
    return rows


def _insert(state: SimState, rows: list[tuple[str, dict[str, Any]]]) -> None:
    for entity, row in rows:
        state.store.table(entity).insert(row)


async def seed_one(request: web.Request) -> web.Response:
    state = request.app[STATE]
    entity = collection_of(request)
    try:
        rows = _build_rows(state, entity, await read_body(request), now_stamp())
        _insert(state, rows)
    except (SeedProblem, ValueProblem) as problem:
        return sim_error(422, "invalid_request", str(problem))
    table = state.store.table(entity)
    return web.json_response(table.render(rows[0][1]), status=201)


async def seed_bulk(request: web.Request) -> web.Response:
    """Every row is built and checked before any is inserted: all or nothing."""
    state = request.app[STATE]
    now = now_stamp()
    try:
        body = await read_body(request)
        if not isinstance(body, dict):
            raise SeedProblem("bulk body must be an object of lists")
        unknown = set(body) - set(BULK_KEYS)
        if unknown:
            raise SeedProblem(f"unknown collections: {sorted(unknown)}")
        rows: list[tuple[str, dict[str, Any]]] = []
        counts: dict[str, int] = {}
        for key, entity in BULK_KEYS.items():
            for fields in body.get(key) or ():
                built = _build_rows(state, entity, fields, now)
                rows.extend(built)
                for built_entity, _ in built:
                    counts[built_entity] = counts.get(built_entity, 0) + 1
                # Keep ids assigned in this batch from colliding with each other.
                for built_entity, row in built:
                    table = state.store.table(built_entity)
                    if row.get("id") is None:
                        row["id"] = table.next_id
                    table.next_id = max(table.next_id, row["id"] + 1)
        seen: set[tuple[str, int]] = set()
        for entity, row in rows:
            key = (entity, row["id"])
            if key in seen or state.store.table(entity).get(row["id"]) is not None:
                raise SeedProblem(f"{entity} id {row['id']} appears twice")
            seen.add(key)
        _insert(state, rows)
    except (SeedProblem, ValueProblem) as problem:
        return sim_error(422, "invalid_request", str(problem))
    return web.json_response({"created": counts}, status=201)
