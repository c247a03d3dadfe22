"""A route table that also records what /openapi.json needs: summary, roles, body and response models."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from billing_shared.settings import Role

from .auth import require
from .errors import refuse_control_characters

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    roles: tuple[Role, ...]
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int


class ApiRoutes:
    def __init__(self) -> None:
        self.table: list[web.RouteDef] = []
        self.docs: list[RouteDoc] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        roles: tuple[Role, ...] = (),
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
    ) -> Callable[[Handler], Handler]:
        """Register a handler; when `roles` is given, other roles get 403 before the handler runs."""

        def register(handler: Handler) -> Handler:
            @wraps(handler)
            async def guarded(request: web.Request) -> web.StreamResponse:
                if roles:
                    require(request, *roles)
                refuse_control_characters(request)
                return await handler(request)

            self.table.append(web.route(method, path, guarded))
            self.docs.append(RouteDoc(method.upper(), path, summary, roles, body, response, status))
            return guarded

        return register

    def include(self, other: ApiRoutes) -> None:
        """Merge another module's routes into this table."""
        self.table.extend(other.table)
        self.docs.extend(other.docs)

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)
