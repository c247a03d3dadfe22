"""Outbound webhooks (admin): subscriptions (the secret shown once, stored sealed), their messages with
every delivery attempt, and replays (the same messages again, same webhook-id, in order)."""
from __future__ import annotations

import uuid

from aiohttp import web

from billing_shared.secrets import SecretBox
from billing_shared.web.app import json_ok
from billing_shared.web.errors import ApiError, invalid_request, not_found, read_json
from billing_shared.web.paging import encode_cursor, int_before, page_request
from billing_shared.web.routes import ApiRoutes

from billing_notifications.adapters import webhook_store as store
from billing_notifications.domain.webhooks import EVENT_TYPES, new_secret, unknown_types, url_problem

from .web_support import deps
from .webhook_views import (
    MessagePage, MessageView, Replayed, ReplayRange, SubscriptionChange, SubscriptionIn, SubscriptionList,
    SubscriptionView, SubscriptionWithSecret,
)

routes = ApiRoutes()
ADMIN = ("admin",)
SUBSCRIPTIONS = "/v1/webhooks/subscriptions"
ONE = SUBSCRIPTIONS + "/{subscription_id}"
STATUSES = ("pending", "delivered")


def _box(request: web.Request) -> SecretBox:
    box = deps(request).box
    if box is None:
        raise ApiError(503, "secrets_unavailable", "SECRETS_KEY is not set: a webhook secret cannot be stored")
    return box


def _id(request: web.Request, name: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise not_found(what) from None


def _check(url: str | None, event_types: list[str] | None) -> None:
    if url is not None and (problem := url_problem(url)):
        raise invalid_request(f"url {problem}", {"fields": {"url": problem}})
    if event_types is not None and (unknown := unknown_types(event_types)):
        raise invalid_request(f"unknown event types: {', '.join(unknown)}",
                              {"unknown_types": unknown, "known_types": list(EVENT_TYPES)})


@routes.post(SUBSCRIPTIONS, summary="Subscribe a URL to billing.* event types; the answer shows the secret once",
             roles=ADMIN, body=SubscriptionIn, response=SubscriptionWithSecret, status=201)
async def create_subscription(request: web.Request) -> web.Response:
    box = _box(request)
    body = SubscriptionIn.model_validate(await read_json(request))
    _check(body.url, body.event_types)
    secret = new_secret()
    row = await store.create(deps(request).pool, box, body.url, list(dict.fromkeys(body.event_types)), secret)
    return json_ok(SubscriptionWithSecret(**SubscriptionView.of(row).model_dump(), secret=secret), status=201)


@routes.get(SUBSCRIPTIONS, summary="Webhook subscriptions (secrets never shown)", roles=ADMIN,
            response=SubscriptionList)
async def list_subscriptions(request: web.Request) -> web.Response:
    rows = await store.subscriptions(deps(request).pool)
    return json_ok(SubscriptionList(items=[SubscriptionView.of(r) for r in rows]))


@routes.get(ONE, summary="One webhook subscription", roles=ADMIN, response=SubscriptionView)
async def get_subscription(request: web.Request) -> web.Response:
    row = await store.subscription(deps(request).pool, _id(request, "subscription_id", "subscription"))
    if row is None:
        raise not_found("subscription")
    return json_ok(SubscriptionView.of(row))


@routes.route("PATCH", ONE, summary="Change the URL or event types, enable (sends what waits) or disable",
              roles=ADMIN, body=SubscriptionChange, response=SubscriptionView)
async def change_subscription(request: web.Request) -> web.Response:
    subscription_id = _id(request, "subscription_id", "subscription")
    change = SubscriptionChange.model_validate(await read_json(request))
    _check(change.url, change.event_types)
    event_types = list(dict.fromkeys(change.event_types)) if change.event_types is not None else None
    row = await store.update(deps(request).pool, subscription_id, url=change.url, event_types=event_types,
                             enabled=change.enabled)
    if row is None:
        raise not_found("subscription")
    return json_ok(SubscriptionView.of(row))


@routes.delete(ONE, summary="Delete a subscription with its messages and delivery log", roles=ADMIN, status=204)
async def delete_subscription(request: web.Request) -> web.Response:
    if not await store.delete(deps(request).pool, _id(request, "subscription_id", "subscription")):
        raise not_found("subscription")
    return web.Response(status=204)


@routes.post(ONE + "/rotate-secret", summary="A new secret, shown once in this answer; the old one stops at once",
             roles=ADMIN, response=SubscriptionWithSecret)
async def rotate_secret(request: web.Request) -> web.Response:
    box = _box(request)
    secret = new_secret()
    row = await store.rotate(deps(request).pool, box, _id(request, "subscription_id", "subscription"), secret)
    if row is None:
        raise not_found("subscription")
    return json_ok(SubscriptionWithSecret(**SubscriptionView.of(row).model_dump(), secret=secret))


@routes.get(ONE + "/messages", summary="The subscription's messages, newest first, each with its delivery attempts "
            "(?status=pending|delivered)", roles=ADMIN, response=MessagePage)
async def list_messages(request: web.Request) -> web.Response:
    subscription_id = _id(request, "subscription_id", "subscription")
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise invalid_request(f"status must be one of {', '.join(STATUSES)}", {"status": status})
    page = page_request(request)
    pool = deps(request).pool
    if await store.subscription(pool, subscription_id) is None:
        raise not_found("subscription")
    rows = await store.messages(pool, subscription_id, status=status, limit=page.limit + 1,
                                before_seq=int_before(page))
    items = rows[: page.limit]
    more = len(rows) > page.limit
    return json_ok(MessagePage(items=[MessageView.of(r) for r in items],
                               next_cursor=encode_cursor([items[-1]["seq"]]) if more else None))


async def _enabled(request: web.Request, subscription_id: uuid.UUID) -> None:
    row = await store.subscription(deps(request).pool, subscription_id)
    if row is None:
        raise not_found("subscription")
    if not row["enabled"]:
        raise ApiError(409, "subscription_disabled", "enable the subscription first: a disabled one sends nothing",
                       {"disabled_reason": row["disabled_reason"]})


@routes.post(ONE + "/replay", summary="Send the messages enqueued from `from` to `to` again (same webhook-id), "
             "in order", roles=ADMIN, body=ReplayRange, response=Replayed)
async def replay_range(request: web.Request) -> web.Response:
    subscription_id = _id(request, "subscription_id", "subscription")
    span = ReplayRange.model_validate(await read_json(request))
    if span.to <= span.from_:
        raise invalid_request("to must be after from", {"fields": {"to": "must be after from"}})
    await _enabled(request, subscription_id)
    count = await store.replay(deps(request).pool, subscription_id, since=span.from_, until=span.to)
    return json_ok(Replayed(replayed=count))


@routes.post("/v1/webhooks/messages/{message_id}/replay", summary="Send one message again (same webhook-id), "
             "after any older one of its organization still waiting", roles=ADMIN, response=Replayed)
async def replay_message(request: web.Request) -> web.Response:
    message_id = _id(request, "message_id", "message")
    pool = deps(request).pool
    message = await store.message(pool, message_id)
    if message is None:
        raise not_found("message")
    await _enabled(request, message["subscription_id"])
    count = await store.replay(pool, message["subscription_id"], message_id=message_id)
    return json_ok(Replayed(replayed=count))
