"""/login, /logout and the front door."""
from __future__ import annotations

from aiohttp import web

from billing_portal.domain import csrf
from billing_portal.entrypoints.web_support import (
    PRE_SESSION_COOKIE, SESSION_COOKIE, SESSION_TOKEN, USER, client_address, deps, page, safe_redirect_target,
    set_cookie, user,
)
from billing_portal.service import signin

routes = web.RouteTableDef()


def _sign_in_form(request: web.Request, *, email: str = "", error: str | None = None, status: int = 200,
                  ) -> web.Response:
    token = request.cookies.get(PRE_SESSION_COOKIE) or csrf.new_token()
    response = page(request, "login.html", {"email": email, "error": error, "form_token": token,
                                            "next": request.query.get("next", "")}, status=status)
    set_cookie(request, response, PRE_SESSION_COOKIE, token, max_age=3600)
    return response


@routes.get("/")
async def front_door(request: web.Request) -> web.Response:
    raise web.HTTPSeeOther(user(request).home)


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    if USER in request:
        raise web.HTTPSeeOther(user(request).home)
    return _sign_in_form(request)


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    email = str(form.get("email", ""))
    try:
        signed_in = await signin.sign_in(deps(request), email, str(form.get("password", "")), client_address(request))
    except signin.SignInRefused as refused:
        return _sign_in_form(request, email=email, error=refused.message, status=429 if refused.throttled else 401)
    target = safe_redirect_target(str(form.get("next", "")), signed_in.user.home)
    response = web.HTTPSeeOther(target)
    set_cookie(request, response, SESSION_COOKIE, signed_in.session_token,
               max_age=int(deps(request).session_max.total_seconds()))
    response.del_cookie(PRE_SESSION_COOKIE, path="/")
    raise response


async def _sign_out(request: web.Request) -> web.Response:
    if USER in request:
        await signin.sign_out(deps(request), user(request), request[SESSION_TOKEN], client_address(request))
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


# Signing out changes nothing but the person's own session, so a plain link to /logout works too.
routes.get("/logout")(_sign_out)
routes.post("/logout")(_sign_out)
