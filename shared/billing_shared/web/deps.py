"""Where a service's handlers find its dependencies: one `Deps` per service (service/deps.py), built in
bootstrap.py once the runtime has started, and held in a slot under one app key (the app is frozen by
then, so the key holds the slot and the slot is filled)."""
from __future__ import annotations

from typing import Any, Generic, TypeVar

from aiohttp import web

T = TypeVar("T")


class DepsSlot(Generic[T]):
    value: T

    def fill(self, value: T) -> T:
        self.value = value
        return value


DEPS = web.AppKey("deps", DepsSlot)


def install_slot(app: web.Application) -> DepsSlot[Any]:
    slot: DepsSlot[Any] = DepsSlot()
    app[DEPS] = slot
    return slot


def deps_of(request: web.Request) -> Any:
    """The service's Deps; each service wraps this in a typed `deps(request)`."""
    return request.app[DEPS].value
