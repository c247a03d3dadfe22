"""Webhooks (admin): subscribe a URL to billing.* event types (the secret is shown once, in the answer that
makes or rotates it), enable or disable, rotate, delete, read the delivery log and replay. The work is
notifications': the pages only call its /v1/webhooks API."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from billing_shared.events.catalog import EVENTS_BY_TOPIC

from billing_portal.adapters.services_api import ServiceError
from billing_portal.domain.messages import sentence
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require

routes = web.RouteTableDef()
API = "/v1/webhooks"
# The event types one may subscribe to, by topic: those of the billing.* topics (notifications checks again).
EVENT_GROUPS = [(topic, [cls.TYPE for cls in classes]) for topic, classes in EVENTS_BY_TOPIC.items()
                if topic.startswith("billing.")]


def _refused(exc: ServiceError) -> bool:
    """A refusal to tell the person about (not a failure of the service, not a missing object)."""
    return exc.status < 500 and exc.status not in (401, 403, 404)


def _because(exc: ServiceError) -> str:
    unknown = (exc.details or {}).get("unknown_types")
    fields = (exc.details or {}).get("fields") or {}
    if unknown:
        return f"Unknown event types: {', '.join(unknown)}."
    if "url" in fields:
        return f"The URL {fields['url']}."
    if "event_types" in fields:
        return "Choose at least one event type."
    return sentence(exc.code, exc.message)


def _utc(typed: str) -> str | None:
    """A `datetime-local` value, read as UTC, as an instant the API takes (None when it is not one)."""
    try:
        return datetime.fromisoformat(typed).replace(tzinfo=UTC).isoformat()
    except ValueError:
        return None


@routes.get("/webhooks")
async def subscriptions(request: web.Request) -> web.Response:
    who = require(request, "admin")
    found = await deps(request).services.notifications.call(who.identity(), "GET", API + "/subscriptions")
    return page(request, "webhooks.html", {"subscriptions": found["items"], "groups": EVENT_GROUPS})


@routes.post("/webhooks")
async def subscribe(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = await request.post()
    body = {"url": str(form.get("url") or "").strip(), "event_types": [str(t) for t in form.getall("event_type", [])]}
    try:
        created = await deps(request).services.notifications.call(who.identity(), "POST", API + "/subscriptions",
                                                                  json=body)
    except ServiceError as exc:
        if not _refused(exc):
            raise
        raise redirect(request, "/webhooks", ok=False, flash=_because(exc)) from None
    await audit(request, "added a webhook subscription", created["subscription_id"], body)
    return page(request, "webhook_secret.html", {"subscription": created, "secret": created["secret"],
                                                 "made": "Subscription added"})


@routes.get("/webhooks/{subscription_id}")
async def subscription(request: web.Request) -> web.Response:
    who = require(request, "admin")
    notifications, sub = deps(request).services.notifications, request.match_info["subscription_id"]
    try:
        found = await notifications.call(who.identity(), "GET", f"{API}/subscriptions/{sub}")
        messages = await notifications.call(who.identity(), "GET", f"{API}/subscriptions/{sub}/messages",
                                            params={"limit": "100"})
    except ServiceError as exc:
        if exc.status == 404:
            raise web.HTTPNotFound() from None
        raise
    now = datetime.now(UTC).replace(second=0, microsecond=0, tzinfo=None)
    return page(request, "webhook.html", {"subscription": found, "messages": messages["items"],
                                          "replay_from": (now - timedelta(days=1)).isoformat(),
                                          "replay_to": (now + timedelta(minutes=1)).isoformat()})


async def _act(request: web.Request, method: str, path: str, body: dict | None, back: str) -> Any:
    """Call notifications' webhooks API; a refusal goes back to `back` with its reason, a missing object is 404."""
    who = require(request, "admin")
    try:
        return await deps(request).services.notifications.call(who.identity(), method, API + path, json=body)
    except ServiceError as exc:
        if exc.status == 404:
            raise web.HTTPNotFound() from None
        if not _refused(exc):
            raise
        raise redirect(request, back, ok=False, flash=_because(exc)) from None


@routes.post("/webhooks/{subscription_id}/enabled")
async def enable(request: web.Request) -> web.Response:
    sub = request.match_info["subscription_id"]
    form = await request.post()
    on = form.get("enabled") == "true"
    await _act(request, "PATCH", f"/subscriptions/{sub}", {"enabled": on}, f"/webhooks/{sub}")
    await audit(request, f"{'enabled' if on else 'disabled'} a webhook subscription", sub)
    raise redirect(request, f"/webhooks/{sub}",
                   flash="Subscription enabled: waiting messages are sent" if on else "Subscription disabled")


@routes.post("/webhooks/{subscription_id}/rotate")
async def rotate(request: web.Request) -> web.Response:
    sub = request.match_info["subscription_id"]
    rotated = await _act(request, "POST", f"/subscriptions/{sub}/rotate-secret", None, f"/webhooks/{sub}")
    await audit(request, "rotated a webhook secret", sub)
    return page(request, "webhook_secret.html", {"subscription": rotated, "secret": rotated["secret"],
                                                 "made": "Secret rotated: the old one no longer signs"})


@routes.post("/webhooks/{subscription_id}/delete")
async def delete(request: web.Request) -> web.Response:
    sub = request.match_info["subscription_id"]
    await _act(request, "DELETE", f"/subscriptions/{sub}", None, f"/webhooks/{sub}")
    await audit(request, "deleted a webhook subscription", sub)
    raise redirect(request, "/webhooks", flash="Subscription deleted")


@routes.post("/webhooks/{subscription_id}/replay")
async def replay_range(request: web.Request) -> web.Response:
    sub = request.match_info["subscription_id"]
    form = await request.post()
    since, until = _utc(str(form.get("from") or "")), _utc(str(form.get("to") or ""))
    if since is None or until is None:
        await _act(request, "GET", f"/subscriptions/{sub}", None, "/webhooks")  # a missing one is not found
        raise redirect(request, f"/webhooks/{sub}", ok=False, flash="Give both times of the range to replay.")
    done = await _act(request, "POST", f"/subscriptions/{sub}/replay", {"from": since, "to": until},
                      f"/webhooks/{sub}")
    await audit(request, "replayed webhook messages", sub, {"from": since, "to": until})
    count = done["replayed"]
    raise redirect(request, f"/webhooks/{sub}", flash=f"{count} message{'s' if count != 1 else ''} sent again")


@routes.post("/webhooks/messages/{message_id}/replay")
async def replay_message(request: web.Request) -> web.Response:
    message = request.match_info["message_id"]
    form = await request.post()
    back = f"/webhooks/{form.get('subscription_id')}" if form.get("subscription_id") else "/webhooks"
    await _act(request, "POST", f"/messages/{message}/replay", None, back)
    await audit(request, "replayed a webhook message", message)
    raise redirect(request, back, flash="Message sent again")
