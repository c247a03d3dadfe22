"""What the notifications routes share: where their dependencies live."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.deps import deps_of

from billing_notifications.service.deps import Deps


def deps(request: web.Request) -> Deps:
    return deps_of(request)
