"""Admin pages: operations (every service's health, sync freshness, dead letters) and the audit log."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from billing_shared.kafka.topics import TopicNames

from billing_portal.adapters import audit_store, dead_letters
from billing_portal.adapters.services_api import ServiceError, ServiceUnavailable
from billing_portal.domain.people import User
from billing_portal.entrypoints.web_support import deps, page, require

routes = web.RouteTableDef()
AUDIT_PAGE = 50


async def _freshness(request: web.Request, who: User) -> dict[str, Any] | None:
    """The last completed sync run and how old it is, against twice the interval (DESIGN.md's stall rule)."""
    sync = deps(request).services.sync
    try:
        runs, autotask = await asyncio.gather(sync.call(who.identity(), "GET", "/v1/sync/runs", params={"limit": "50"}),
                                              sync.call(who.identity(), "GET", "/v1/integrations/autotask"))
    except (ServiceError, ServiceUnavailable):
        return None
    done = next((r for r in runs["items"] if r["status"] == "completed" and r["finished_at"]), None)
    if done is None:
        return {"last": None, "interval": autotask["sync_interval_minutes"], "stale": True}
    age = datetime.now(UTC) - datetime.fromisoformat(done["finished_at"])
    minutes = int(age.total_seconds() // 60)
    return {"last": done["finished_at"], "minutes": minutes, "interval": autotask["sync_interval_minutes"],
            "stale": minutes > 2 * autotask["sync_interval_minutes"]}


async def _dead_letters(request: web.Request) -> dict[str, int] | None:
    c = deps(request).config
    try:
        return await asyncio.wait_for(dead_letters.counts(c.kafka_bootstrap_servers, TopicNames(c.kafka_topic_prefix)),
                                      10)
    except Exception:  # noqa: BLE001 - the page says the broker could not be asked
        return None


@routes.get("/operations")
async def operations(request: web.Request) -> web.Response:
    who = require(request, "admin")
    clients = deps(request).services.all()
    answers, freshness, dlq = await asyncio.gather(asyncio.gather(*(c.health() for c in clients)),
                                                   _freshness(request, who), _dead_letters(request))
    services = [{"name": c.name, "url": c.base_url, **answer} for c, answer in zip(clients, answers)]
    return page(request, "operations.html", {"services": services, "freshness": freshness, "dead_letters": dlq})


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    require(request, "admin")
    before = request.query.get("before")
    entries = await audit_store.page(deps(request).pool, limit=AUDIT_PAGE + 1,
                                     before_id=int(before) if before and before.isdigit() else None)
    more = entries[AUDIT_PAGE - 1].id if len(entries) > AUDIT_PAGE else None
    return page(request, "audit.html", {"entries": entries[:AUDIT_PAGE], "before": more})
