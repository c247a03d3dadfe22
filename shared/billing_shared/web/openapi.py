"""Builds an OpenAPI 3.1 document from the recorded routes and their pydantic models."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from .routes import RouteDoc

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
            "required": ["code", "message", "details"],
        }
    },
}


def _schema(model: type[BaseModel], components: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        components[name] = definition
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def build_openapi(title: str, version: str, docs: list[RouteDoc]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for doc in docs:
        op: dict[str, Any] = {
            "summary": doc.summary,
            "responses": {
                str(doc.status): {"description": "success"},
                "default": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        }
        if doc.roles:
            op["description"] = "Roles: " + ", ".join(doc.roles)
            op["security"] = [{"bearer": []}]
        params = re.findall(r"{(\w+)}", doc.path)
        if params:
            op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
        if doc.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _schema(doc.body, components, "validation")}}}
        if doc.response is not None:
            op["responses"][str(doc.status)]["content"] = {"application/json": {"schema": _schema(doc.response, components, "serialization")}}
        paths.setdefault(doc.path, {})[doc.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }
