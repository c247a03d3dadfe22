"""Inviting a client contact (admin, on the client profiles page) and the invitation link itself."""
from __future__ import annotations

from aiohttp import web

from billing_portal.adapters import directory_store, profile_store
from billing_portal.domain import csrf
from billing_portal.entrypoints.web_support import (
    PRE_SESSION_COOKIE, SESSION_COOKIE, audit, deps, page, redirect, require, set_cookie,
)
from billing_portal.service import invitations

routes = web.RouteTableDef()
WHY = {
    "forged": ("Invitation not found", "This invitation link is not valid. Ask your IT provider for a new one."),
    "used": ("Invitation already used", "This invitation has been used already. Sign in with the password you set, "
             "or ask your IT provider for a new invitation."),
    "expired": ("Invitation expired", "This invitation has expired. Ask your IT provider for a new one."),
    "inactive": ("Contact not active", "Your contact is no longer active with your IT provider, so this invitation "
                 "cannot be used."),
}


@routes.get("/settings/client-profiles/invite")
async def invite_form(request: web.Request) -> web.Response:
    require(request, "admin")
    organization_id = request.query.get("organization_id", "").strip()
    contacts = await directory_store.of_organization(deps(request).pool, organization_id) if organization_id else []
    return page(request, "invite.html", {"organization_id": organization_id, "contacts": contacts,
                                         "profiles": await profile_store.all_profiles(deps(request).pool)})


@routes.post("/settings/client-profiles/invite")
async def invite(request: web.Request) -> web.Response:
    who = require(request, "admin")
    form = await request.post()
    contact_id, profile_id = str(form.get("contact_id", "")), str(form.get("profile_id", ""))
    back = f"/settings/client-profiles/invite?organization_id={form.get('organization_id', '')}"
    if profile_id not in {p.profile_id for p in await profile_store.all_profiles(deps(request).pool)}:
        raise redirect(request, back, ok=False, flash="Choose a client profile.")
    try:
        email = await invitations.invite(deps(request), who, contact_id, profile_id)
    except invitations.InvitationRefused as refused:
        raise redirect(request, back, ok=False, flash=refused.message) from None
    await audit(request, "invited a client contact", contact_id, {"email": email, "profile_id": profile_id})
    raise redirect(request, back, flash=f"Invitation sent to {email}")


def _refusal(request: web.Request, state: str, status: int) -> web.Response:
    title, message = WHY.get(state, WHY["forged"])
    return page(request, "error.html", {"title": title, "message": message}, status=status)


@routes.get("/invitations/{token}")
async def invitation(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    found = await invitations.invitation_store.by_token(deps(request).pool, request.match_info["token"])
    state = invitations.state_of(found)
    if state != "open":
        return _refusal(request, state, 404 if state == "forged" else 410)
    assert found is not None
    token = request.cookies.get(PRE_SESSION_COOKIE) or csrf.new_token()
    response = page(request, "invitation.html", {"invitation": found, "error": error, "form_token": token},
                    status=status)
    set_cookie(request, response, PRE_SESSION_COOKIE, token, max_age=3600)
    return response


@routes.post("/invitations/{token}")
async def accept(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        accepted = await invitations.accept(deps(request), request.match_info["token"], str(form.get("password", "")),
                                             str(form.get("confirm", "")))
    except invitations.InvitationRefused as refused:
        if refused.message in WHY:
            return _refusal(request, refused.message, refused.status)
        return await invitation(request, error=refused.message, status=422)
    response = web.HTTPSeeOther("/")
    set_cookie(request, response, SESSION_COOKIE, accepted.session_token,
               max_age=int(deps(request).session_max.total_seconds()))
    response.del_cookie(PRE_SESSION_COOKIE, path="/")
    raise response
