"""Map an Autotask REST path to an operation.

Matching ignores case (`ATServicesRest`, `atservicesrest`, `V1.0`, `v1.0`,
entity names): one third-party note says the real path is case-sensitive [T],
but real clients (AT-DJ) use lowercase `atservicesrest/v1.0`, so the simulator
takes both.
"""

from __future__ import annotations

from dataclasses import dataclass

from .entities import CHILDREN, entity_spec


@dataclass(frozen=True)
class ApiRoute:
    op: str  # a key of api.HANDLERS, or "zone"
    entity: str  # what the call is counted and thread-limited under
    label: str  # "POST query", "GET", "PATCH"... as shown in /_sim/requests
    row_id: int | None = None
    parent: str | None = None
    parent_id: int | None = None
    next_page: bool = False


class RouteProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def api_segments(path: str) -> list[str] | None:
    """The segments after `/ATServicesRest/V1.0/`, or None when not an API path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "atservicesrest" or parts[1].lower() != "v1.0":
        return None
    return parts[2:]


def _entity(name: str) -> str:
    spec = entity_spec(name)
    if spec is None:
        raise RouteProblem(404, f"The entity '{name}' is not available in this API.")
    return spec.name


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _allow(method: str, allowed: set[str]) -> None:
    if method not in allowed:
        raise RouteProblem(405, f"The requested resource does not support http method '{method}'.")


def resolve(method: str, segments: list[str]) -> ApiRoute:
    lowered = [s.lower() for s in segments]
    if lowered == ["zoneinformation"]:
        _allow(method, {"GET"})
        return ApiRoute("zone", "zoneInformation", "GET")
    if lowered == ["thresholdinformation"]:
        _allow(method, {"GET"})
        return ApiRoute("threshold", "ThresholdInformation", "GET")
    if not segments:
        raise RouteProblem(404, "No API resource at this path.")
    entity = _entity(segments[0])
    rest = lowered[1:]
    if not rest:
        _allow(method, {"POST", "PATCH", "PUT"})
        return ApiRoute("create" if method == "POST" else "update", entity, method)
    if rest[0] == "entityinformation":
        _allow(method, {"GET"})
        kinds = {(): "entity_info", ("fields",): "field_info", ("userdefinedfields",): "udf_info"}
        op = kinds.get(tuple(rest[1:]))
        if op is None:
            raise RouteProblem(404, "No API resource at this path.")
        return ApiRoute(op, entity, "GET " + "/".join(segments[1:]))
    if rest[0] == "query":
        _allow(method, {"GET", "POST"})
        if rest[1:] == []:
            return ApiRoute("query", entity, f"{method} query")
        if rest[1:] == ["count"]:
            return ApiRoute("count", entity, f"{method} count")
        if rest[1:] == ["next"]:
            return ApiRoute("query", entity, f"{method} query", next_page=True)
        raise RouteProblem(404, "No API resource at this path.")
    row_id = _int(rest[0])
    if row_id is None:
        raise RouteProblem(404, "No API resource at this path.")
    if len(rest) == 1:
        _allow(method, {"GET"})
        return ApiRoute("get", entity, "GET", row_id=row_id)
    if entity == "Invoices" and rest[1:] == ["invoicepdf"]:
        _allow(method, {"GET"})
        return ApiRoute("pdf", entity, "GET InvoicePDF", row_id=row_id)
    child = _entity(segments[2])
    if (entity, child) not in CHILDREN:
        raise RouteProblem(404, f"{child} is not a child of {entity}.")
    if len(rest) == 2:
        _allow(method, {"GET", "POST", "PATCH", "PUT"})
        op = {"GET": "children", "POST": "create"}.get(method, "update")
        return ApiRoute(op, child, method, parent=entity, parent_id=row_id)
    child_id = _int(rest[2]) if len(rest) == 3 else None
    if child_id is None:
        raise RouteProblem(404, "No API resource at this path.")
    _allow(method, {"GET"})
    return ApiRoute("get", child, "GET", row_id=child_id, parent=entity, parent_id=row_id)
