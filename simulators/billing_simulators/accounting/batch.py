"""QuickBooks' batch endpoint, `POST /v3/company/{realm}/batch` (external-apis.md 2.7 and 2.10).

`{"BatchItemRequest": [{"bId": "1", "operation": "create", "Payment": {...}}, {"bId": "2", "Query": "select ..."}]}`
answers `{"BatchItemResponse": [{"bId": "1", "Payment": {...}}, {"bId": "2", "QueryResponse": {...}}], "time": ...}`.
Items run in order, each on its own: a fault in one is that item's `Fault` and the others still run. The whole
batch is one request for the per-second and per-minute limits, and it has limits of its own (at most
`batch_max_items` items; `rate_limit_batch_per_minute` batches a minute, the guard's 429). A `requestid` on
the URL works as on single writes: the same id gets the first answer and nothing runs again.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from .api import REQUEST_ID_MAX, query_answer, write_answer
from .state import ENTITY_BY_PATH, SIM_STATE, SimState
from .wire import QboError, decode_body, fault_response, invalid, qbo_response

OPERATIONS = ("create", "update", "delete")


async def run_batch(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    body = decode_body(await request.text())
    items = body.get("BatchItemRequest") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise invalid("BatchItemRequest must be a non-empty list of batch items", "BatchItemRequest")
    limit = state.config.batch_max_items
    if len(items) > limit:
        raise invalid(f"A batch request may carry at most {limit} BatchItemRequest items; it has {len(items)}",
                      "BatchItemRequest")
    _check_ids(items)
    request_id = request.query.get("requestid")
    if request_id is not None and not 0 < len(request_id) <= REQUEST_ID_MAX:
        raise invalid(f"requestid must be 1 to {REQUEST_ID_MAX} characters")
    if request_id is not None and request_id in state.answered:
        return qbo_response(state.answered[request_id])
    injected = _injected(request, state, items)
    if isinstance(injected, web.Response):
        return injected  # an outage: the batch failed as a whole, nothing ran
    answer = {"BatchItemResponse": [_run_item(state, item, injected.get(i)) for i, item in enumerate(items)]}
    if request_id is not None:
        state.answered[request_id] = copy.deepcopy(answer)
    return qbo_response(answer)


def _check_ids(items: list[Any]) -> None:
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("bId"), str) or not item["bId"]:
            raise invalid("Every batch item must be an object with a bId", "bId")
        if item["bId"] in seen:
            raise invalid(f"The bId {item['bId']!r} appears twice in the batch", "bId")
        seen.add(item["bId"])


def _injected(request: web.Request, state: SimState, items: list[dict]) -> dict[int, QboError] | web.Response:
    """Faults a test injected for single calls also hit the same calls inside a batch: a rule matches the
    pseudo path `/v3/company/{realm}/batch/{entity}#{bId}` (a query item: `.../batch/query#{bId}`). A 5xx rule
    fails the whole batch before any item runs; any other rule is that one item's fault."""
    faults: dict[int, QboError] = {}
    for index, item in enumerate(items):
        kind = "query" if "Query" in item else next((k.lower() for k in item if k in ENTITY_BY_PATH.values()), "")
        rule = state.faults.take(request.method, f"{request.path}/{kind}#{item['bId']}")
        if rule is None:
            continue
        error = QboError(rule.status, rule.code, rule.message, f"{rule.message} (injected by the simulator)",
                         fault_type="SystemFault" if rule.status >= 500 else "ValidationFault")
        if rule.status >= 500:
            return fault_response(error)
        faults[index] = error
    return faults


def _run_item(state: SimState, item: dict[str, Any], injected: QboError | None) -> dict[str, Any]:
    b_id = item["bId"]
    try:
        if injected is not None:
            raise injected
        if "Query" in item:
            return {"bId": b_id, **query_answer(state.books, str(item["Query"]))}
        entities = [key for key in item if key in ENTITY_BY_PATH.values()]
        if len(entities) != 1:
            raise invalid("A batch item carries one object (Payment, Invoice...) or a Query")
        operation = str(item.get("operation", "")).lower()
        if operation not in OPERATIONS:
            raise invalid(f"Unknown batch operation {item.get('operation')!r}", "operation")
        entity = entities[0]
        obj = item[entity]
        if not isinstance(obj, dict):
            raise invalid(f"{entity} must be an object", entity)
        return {"bId": b_id, **write_answer(state.books, entity, obj, operation, "")}
    except QboError as error:
        return {"bId": b_id, "Fault": {"Error": [{"Message": error.message, "Detail": error.detail,
                                                  "code": error.code, "element": error.element}],
                                       "type": error.fault_type}}


def add_routes(app: web.Application) -> None:
    # Before api.add_routes: its `POST {entity}` would take `batch` for an entity name.
    app.router.add_post("/v3/company/{realm}/batch", run_batch)
