"""The QuickBooks-shaped endpoints under /v3/company/{realmId}/."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from . import query_engine
from ..psa.pdf import tiny_pdf
from .query_language import parse_error, parse_query
from .state import ENTITY_BY_PATH, SIM_STATE
from .timestamps import parse_instant
from .wire import QboError, decode_body, invalid, qbo_response

REQUEST_ID_MAX = 50


def _entity(request: web.Request) -> str:
    name = ENTITY_BY_PATH.get(request.match_info["entity"].lower())
    if name is None:
        raise QboError(
            400, "500", "Unsupported Operation",
            f"The simulator does not support the entity {request.match_info['entity']!r}",
        )
    return name


async def read_entity(request: web.Request) -> web.Response:
    entity = _entity(request)
    books = request.app[SIM_STATE].books
    return qbo_response({entity: books.get(entity, request.match_info["id"])})


async def invoice_pdf(request: web.Request) -> web.Response:
    """QBO's `GET /invoice/{id}/pdf`: the invoice as a PDF (a tiny one naming its DocNumber here)."""
    invoice = request.app[SIM_STATE].books.get("Invoice", request.match_info["id"])
    pdf = tiny_pdf([f"Invoice {invoice.get('DocNumber', invoice['Id'])}", f"Total {invoice.get('TotalAmt')}"])
    return web.Response(body=pdf, content_type="application/pdf")


async def write_entity(request: web.Request) -> web.Response:
    """Create, update, delete and void share one URL; the query string says which. A `requestid` seen
    before gets the answer it got then, and nothing is written again."""
    entity = _entity(request)
    body = decode_body(await request.text())
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    state = request.app[SIM_STATE]
    request_id = request.query.get("requestid")
    if request_id is not None and not 0 < len(request_id) <= REQUEST_ID_MAX:
        raise invalid(f"requestid must be 1 to {REQUEST_ID_MAX} characters")
    if request_id is not None and request_id in state.answered:
        return qbo_response(state.answered[request_id])
    answer = write_answer(state.books, entity, body, request.query.get("operation", ""),
                          request.query.get("include", ""))
    if request_id is not None:
        state.answered[request_id] = copy.deepcopy(answer)  # the answer as it was, whatever changes later
    return qbo_response(answer)


def write_answer(books: Any, entity: str, body: dict, operation: str, include: str) -> dict:
    """One write as the API answers it (`operation` and `include` as the query string gives them); a batch
    item's `create` is this with no operation."""
    operation, include = operation.lower(), include.lower()
    if operation == "create" and body.get("Id") is None:
        return {entity: books.create(entity, body)}
    if operation == "delete":
        return {entity: books.delete(entity, body)}
    if operation == "void" or (operation == "update" and include == "void"):
        return {entity: books.void(entity, body)}
    if operation not in ("", "create", "update"):
        raise invalid(f"Unknown operation {operation!r}")
    if body.get("Id") is not None:
        return {entity: books.update(entity, body)}
    return {entity: books.create(entity, body)}


async def run_query(request: web.Request) -> web.Response:
    text = request.query.get("query")
    if text is None and request.method == "POST":
        text = await request.text()  # QBO also takes the query as an application/text body
    if not text:
        raise parse_error("The query parameter is missing")
    return qbo_response(query_answer(request.app[SIM_STATE].books, text))


def query_answer(books: Any, text: str) -> dict[str, Any]:
    """A query's answer (`{"QueryResponse": ...}`), as the query endpoint and a batch's Query item give it."""
    query = parse_query(text)
    if query.entity not in books.objects:
        # Entity names are case-sensitive, as in QuickBooks.
        raise parse_error(f"Invalid entity name {query.entity!r}")
    page, total = query_engine.run(books.all(query.entity), query)
    if query.count_only:
        return {"QueryResponse": {"totalCount": total}}
    if not page:
        return {"QueryResponse": {}}
    return {
        "QueryResponse": {
            query.entity: page,
            "startPosition": query.start_position,
            "maxResults": len(page),
            "totalCount": total,
        }
    }


async def change_data_capture(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    entities = _cdc_entities(request.query.get("entities", ""))
    since_text = request.query.get("changedSince")
    if not since_text:
        raise invalid("changedSince is required", "changedSince")
    try:
        since = parse_instant(since_text)
    except ValueError:
        raise invalid(f"changedSince is not an ISO 8601 time: {since_text!r}", "changedSince") from None
    oldest = datetime.now(UTC) - timedelta(days=state.config.cdc_max_days)
    if since < oldest:
        raise invalid(
            f"changedSince may reach back {state.config.cdc_max_days} days at most", "changedSince"
        )
    changes = sorted(state.books.changes_since(entities, since), key=lambda change: change[0])
    changes = changes[: state.config.cdc_max_objects]  # shared by all entities, oldest first
    grouped: dict[str, list[dict[str, Any]]] = {entity: [] for entity in entities}
    for _, entity, obj in changes:
        grouped[entity].append(obj)
    responses = [
        {entity: objs, "startPosition": 1, "maxResults": len(objs), "totalCount": len(objs)}
        if objs
        else {}
        for entity, objs in grouped.items()
    ]
    return qbo_response({"CDCResponse": [{"QueryResponse": responses}]})


def _cdc_entities(raw: str) -> list[str]:
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        raise invalid("entities is required", "entities")
    entities: list[str] = []
    for name in names:
        entity = ENTITY_BY_PATH.get(name.lower())
        if entity is None:
            raise invalid(f"CDC does not support the entity {name!r}", "entities")
        if entity not in entities:
            entities.append(entity)
    return entities


def add_routes(app: web.Application) -> None:
    base = "/v3/company/{realm}"
    app.router.add_get(f"{base}/query", run_query)
    app.router.add_post(f"{base}/query", run_query)
    app.router.add_get(f"{base}/cdc", change_data_capture)
    app.router.add_get(f"{base}/invoice/{{id}}/pdf", invoice_pdf)
    app.router.add_get(f"{base}/{{entity}}/{{id}}", read_entity)
    app.router.add_post(f"{base}/{{entity}}", write_entity)
