"""Client profiles (admin): what each client contact may do ("View Invoices", "Make Payments",
"View Quotes"), and which profile each client user has. The services are told the permissions in each
identity and refuse what a profile does not allow."""
from __future__ import annotations

import re

from aiohttp import web

from billing_portal.adapters import profile_store, user_store
from billing_portal.domain.people import PERMISSION_LABELS, PERMISSIONS
from billing_portal.entrypoints.web_support import audit, deps, page, redirect, require

routes = web.RouteTableDef()
PAGE = "/settings/client-profiles"
UUID = r"{%s:[0-9a-f-]{36}}"


def _permissions(form) -> set[str]:  # type: ignore[no-untyped-def]
    return {p for p in PERMISSIONS if form.get(p) == "on"}


@routes.get(PAGE)
async def client_profiles(request: web.Request) -> web.Response:
    require(request, "admin")
    pool = deps(request).pool
    return page(request, "client_profiles.html", {
        "profiles": await profile_store.all_profiles(pool), "clients": await user_store.clients(pool),
        "permissions": [(p, PERMISSION_LABELS[p]) for p in PERMISSIONS]})


@routes.post(PAGE)
async def add_profile(request: web.Request) -> web.Response:
    require(request, "admin")
    form = await request.post()
    name = re.sub(r"\s+", " ", str(form.get("name", ""))).strip()[:100]
    if not name:
        raise redirect(request, PAGE, ok=False, flash="Give the profile a name.")
    if await profile_store.create(deps(request).pool, name, _permissions(form)) is None:
        raise redirect(request, PAGE, ok=False, flash=f"A profile named {name} exists already.")
    await audit(request, "added a client profile", name, {"permissions": sorted(_permissions(form))})
    raise redirect(request, PAGE, flash=f"Profile {name} added")


@routes.post(PAGE + "/" + UUID % "profile_id")
async def save_profile(request: web.Request) -> web.Response:
    require(request, "admin")
    form = await request.post()
    if not await profile_store.update(deps(request).pool, request.match_info["profile_id"], _permissions(form)):
        raise web.HTTPNotFound()
    await audit(request, "changed a client profile", request.match_info["profile_id"],
                {"permissions": sorted(_permissions(form))})
    raise redirect(request, PAGE, flash="Profile saved")


@routes.post(PAGE + "/users/" + UUID % "user_id")
async def assign_profile(request: web.Request) -> web.Response:
    require(request, "admin")
    profile_id = str((await request.post()).get("profile_id", ""))
    known = {p.profile_id for p in await profile_store.all_profiles(deps(request).pool)}
    if profile_id not in known or not await user_store.set_profile(deps(request).pool, request.match_info["user_id"],
                                                                   profile_id):
        raise web.HTTPNotFound()
    await audit(request, "gave a client a profile", request.match_info["user_id"], {"profile_id": profile_id})
    raise redirect(request, PAGE, flash="Client profile assigned")
