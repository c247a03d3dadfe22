"""Notification settings (admin): Email and Service Ticket per type, the Service Ticket Configuration
from the PSA's own picklists, the past-due reminder days; and Connect to Ticketing (the PSA connection tickets are created with)."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from billing_portal.adapters.services_api import ServiceClient, ServiceError
from billing_portal.domain.messages import sentence
from billing_portal.domain.people import User
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require

routes = web.RouteTableDef()
TICKET_FIELDS = (("queue_id", "Queue", "queues"), ("issue_type_id", "Issue Type", "issue_types"),
                 ("priority", "Priority", "priorities"))
CONNECTION = "/v1/settings/ticketing/connection"
REMINDERS = "/v1/settings/reminders"


def type_label(kind: str) -> str:
    return kind.replace(".", " ").replace("_", " ").capitalize()


async def _choices(notifications: ServiceClient, who: User) -> tuple[dict[str, list[dict[str, Any]]] | None, str | None]:
    try:
        return await notifications.call(who.identity(), "GET", "/v1/settings/ticketing/choices"), None
    except ServiceError as exc:
        if exc.code == "ticketing_not_connected":
            return None, "Connect to Ticketing first: the queues, issue types and priorities come from Autotask."
        return None, f"Autotask's picklists could not be read: {exc.message}"


@routes.get("/settings/notifications")
async def notification_settings(request: web.Request) -> web.Response:
    who = require(request, "admin")
    notifications = deps(request).services.notifications
    switches, ticketing, reminders, (choices, problem) = await asyncio.gather(
        notifications.call(who.identity(), "GET", "/v1/settings/notifications"),
        notifications.call(who.identity(), "GET", "/v1/settings/ticketing"),
        notifications.call(who.identity(), "GET", REMINDERS),
        _choices(notifications, who))
    return page(request, "notification_settings.html", {
        "types": [{"type": k, "label": type_label(k), **v} for k, v in switches.items()],
        "ticketing": ticketing, "choices": choices, "choices_problem": problem, "ticket_fields": TICKET_FIELDS,
        "reminder_days": ", ".join(str(d) for d in reminders["days_after_due"])})


def reminder_days(typed: str) -> list[int] | None:
    """"1, 7, 14" -> [1, 7, 14]; None when a part is not a whole number (the service checks the range)."""
    parts = [p for p in typed.replace(",", " ").split() if p]
    return [int(p) for p in parts] if all(p.isdigit() and len(p) < 6 for p in parts) else None


@routes.post("/settings/notifications")
async def save_notification_settings(request: web.Request) -> web.Response:
    who = require(request, "admin")
    notifications = deps(request).services.notifications
    form = await request.post()
    known = await notifications.call(who.identity(), "GET", "/v1/settings/notifications")
    switches = {k: {"email": form.get(f"email:{k}") == "on", "ticket": form.get(f"ticket:{k}") == "on"}
                for k in known}
    ticketing = {name: int(str(form[name])) for name, _, _ in TICKET_FIELDS if str(form.get(name, "")).isdigit()}
    days = reminder_days(str(form.get("reminder_days", "")))
    if days is None:
        raise redirect(request, "/settings/notifications", ok=False,
                       flash="Reminder days must be whole numbers of days after the due date, like 1, 7, 14.")
    try:
        await notifications.call(who.identity(), "PUT", REMINDERS, json={"days_after_due": days})
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        raise redirect(request, "/settings/notifications", ok=False, flash=f"Reminder days: {exc.message}.")
    try:
        await notifications.call(who.identity(), "PUT", "/v1/settings/notifications", json=switches)
        if ticketing:
            await notifications.call(who.identity(), "PUT", "/v1/settings/ticketing", json=ticketing)
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        raise redirect(request, "/settings/notifications", ok=False, flash=sentence(exc.code, exc.message))
    await audit(request, "saved notification settings", None, {"ticketing": ticketing, "reminder_days": days})
    raise redirect(request, "/settings/notifications", flash="Settings saved")


@routes.get("/integrations/ticketing")
async def ticketing_connection(request: web.Request) -> web.Response:
    who = require(request, "admin")
    try:
        stored = await deps(request).services.notifications.call(who.identity(), "GET", CONNECTION)
    except ServiceError as exc:
        if exc.status != 404:
            raise
        stored = None
    return page(request, "ticketing_connection.html", {"stored": stored or {}, "typed": {}, "error": None})


@routes.post("/integrations/ticketing")
async def save_ticketing_connection(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = {k: str(v).strip() for k, v in (await request.post()).items() if k != "csrf_token"}
    body = {k: form[k] for k in ("username", "secret", "integration_code", "base_url") if form.get(k)}
    try:
        await deps(request).services.notifications.call(who.identity(), "PUT", CONNECTION, json=body)
    except ServiceError as exc:
        if exc.status >= 500:
            raise
        form.pop("secret", None)
        return page(request, "ticketing_connection.html", {
            "stored": {}, "typed": form, "error": f"{sentence(exc.code, exc.message)} ({exc.message})"},
            status=exc.status)
    await audit(request, "connected ticketing", body.get("username"))
    raise redirect(request, "/integrations/ticketing", flash="Ticketing connection saved")


@routes.post("/integrations/ticketing/test")
async def test_ticketing_connection(request: web.Request) -> web.Response:
    who = require(request, "admin")
    result = await deps(request).services.notifications.call(who.identity(), "POST", CONNECTION + "/test")
    if result["ok"]:
        raise redirect(request, "/integrations/ticketing", flash="Ticketing: connection OK")
    raise redirect(request, "/integrations/ticketing", ok=False,
                   flash=f"Ticketing: connection failed: {result.get('reason') or 'no reason given'}")
