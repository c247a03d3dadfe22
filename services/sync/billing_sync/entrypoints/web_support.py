"""What the sync routes share: where their dependencies live."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.deps import deps_of

from billing_sync.service.deps import Deps


def deps(request: web.Request) -> Deps:
    return deps_of(request)
