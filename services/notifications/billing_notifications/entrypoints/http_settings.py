"""`GET/PUT /v1/settings/notifications`, `/v1/settings/ticketing` and `/v1/settings/reminders` (admin)."""
from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.errors import invalid_request, read_json
from billing_shared.web.routes import ApiRoutes

from billing_notifications.adapters import settings_store
from billing_notifications.domain.catalog import NOTIFICATION_TYPES, merge_switches
from billing_notifications.domain.reminders import ScheduleError, schedule_of
from billing_notifications.service import picklists

from .web_support import deps
from .views import NotificationSettings, NotificationSettingsChange, ReminderSchedule, Ticketing

routes = ApiRoutes()


@routes.get("/v1/settings/notifications", summary="Email and ticket on/off per notification type",
            roles=("admin",), response=NotificationSettings)
async def get_notification_settings(request: web.Request) -> web.Response:
    async with deps(request).pool.acquire() as conn:
        return json_ok(NotificationSettings.of(await settings_store.channel_switches(conn)))


@routes.put("/v1/settings/notifications", summary="Change some types' channels; types not named keep theirs",
            roles=("admin",), body=NotificationSettingsChange, response=NotificationSettings)
async def put_notification_settings(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_request("the body must be an object from notification type to {email, ticket}")
    unknown = sorted(set(body) - set(NOTIFICATION_TYPES))
    if unknown:
        raise invalid_request("unknown notification types", {"unknown_types": unknown,
                                                             "known_types": list(NOTIFICATION_TYPES)})
    change = NotificationSettingsChange.model_validate(body)
    changes = {name: c.model_dump(exclude_none=True) for name, c in change.root.items()}
    async with deps(request).pool.acquire() as conn, conn.transaction():
        await settings_store.lock_switches(conn)
        merged = merge_switches(await settings_store.channel_switches(conn), changes)
        await settings_store.save_switches(conn, {name: merged[name] for name in changes})
    return json_ok(NotificationSettings.of(merged))


@routes.get("/v1/settings/ticketing", summary="Queue, issue type and priority of PSA tickets",
            roles=("admin",), response=Ticketing)
async def get_ticketing(request: web.Request) -> web.Response:
    async with deps(request).pool.acquire() as conn:
        return json_ok(Ticketing.of(await settings_store.ticketing(conn)))


@routes.put("/v1/settings/ticketing", summary="Change the ticketing configuration; fields not given keep theirs",
            roles=("admin",), body=Ticketing, response=Ticketing)
async def put_ticketing(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise invalid_request("the body must be an object")
    change = Ticketing.model_validate(body)
    problems = await picklists.unknown_values(deps(request).desks, {name: getattr(change, name)
                                                                   for name in change.model_fields_set})
    if problems:
        first = next(iter(problems))
        raise invalid_request(f"{first}: {problems[first]}", {"fields": problems})
    async with deps(request).pool.acquire() as conn, conn.transaction():
        await settings_store.lock_ticketing(conn)
        current = await settings_store.ticketing(conn)
        updated = replace(current, **{name: getattr(change, name) for name in change.model_fields_set})
        await settings_store.save_ticketing(conn, updated)
    return json_ok(Ticketing.of(updated))


@routes.get("/v1/settings/reminders", summary="Past-due reminders: days after the due date",
            roles=("admin",), response=ReminderSchedule)
async def get_reminders(request: web.Request) -> web.Response:
    days = await settings_store.reminder_days(deps(request).pool)
    return json_ok(ReminderSchedule(days_after_due=list(days)))


@routes.put("/v1/settings/reminders", summary="Change the past-due reminder schedule (an empty list: none)",
            roles=("admin",), body=ReminderSchedule, response=ReminderSchedule)
async def put_reminders(request: web.Request) -> web.Response:
    change = ReminderSchedule.model_validate(await read_json(request))
    try:
        days = schedule_of(change.days_after_due)
    except ScheduleError as exc:
        raise invalid_request(str(exc), {"fields": {"days_after_due": str(exc)}}) from None
    async with deps(request).pool.acquire() as conn:
        await settings_store.save_reminder_days(conn, days)
    return json_ok(ReminderSchedule(days_after_due=list(days)))
