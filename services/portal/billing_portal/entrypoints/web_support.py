"""What every page shares: the signed-in person, CSRF checks, security headers, errors as pages."""
from __future__ import annotations

import json
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web

from billing_shared.web.deps import deps_of

from billing_portal.adapters import audit_store, session_store, user_store
from billing_portal.adapters.services_api import ServiceError, ServiceUnavailable
from billing_portal.domain import csrf
from billing_portal.domain.messages import sentence
from billing_portal.domain.people import User
from billing_portal.service.deps import Deps

log = structlog.get_logger(__name__)

SESSION_COOKIE = "billing_session"
FLASH_COOKIE = "billing_flash"  # one message for the page after a redirect ("Settings saved")
PRE_SESSION_COOKIE = "billing_presession"  # the sign-in form's CSRF token, before there is a session
OPEN_PATHS = ("/login", "/health", "/metrics", "/openapi.json", "/asyncapi.json", "/static/", "/invitations/")


USER = web.RequestKey("user", User)
CSRF = web.RequestKey("csrf", str)
SESSION_TOKEN = web.RequestKey("session_token", str)


def deps(request: web.Request) -> Deps:
    return deps_of(request)


def user(request: web.Request) -> User:
    return request[USER]


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax", path="/",
                        secure=deps(request).config.secure_cookies)


def cursor_param(request: web.Request) -> dict[str, str]:
    """The `cursor` of a paged list page, passed on to the service that handed it out."""
    return {"cursor": request.query["cursor"]} if request.query.get("cursor") else {}


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def page(request: web.Request, template: str, context: dict[str, Any] | None = None, *,
         status: int = 200) -> web.Response:
    flash = _read_flash(request)
    base = {"user": request.get(USER), "csrf_token": request.get(CSRF, ""), "path": request.path, "flash": flash}
    response = aiohttp_jinja2.render_template(template, request, {**base, **(context or {})}, status=status)
    if flash is not None:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: web.Request, location: str, *, flash: str | None = None, ok: bool = True) -> web.HTTPSeeOther:
    """Post, then redirect: a refresh of the next page never repeats the change."""
    response = web.HTTPSeeOther(location)
    if flash is not None:
        response.set_cookie(FLASH_COOKIE, json.dumps({"text": flash, "ok": ok}), max_age=60, httponly=True,
                            samesite="Lax", path="/", secure=deps(request).config.secure_cookies)
    return response


def _read_flash(request: web.Request) -> dict[str, Any] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        flash = json.loads(raw)
        return {"text": str(flash["text"]), "ok": bool(flash["ok"])}
    except (ValueError, KeyError, TypeError):
        return None


async def audit(request: web.Request, action: str, target: str | None = None,
                details: dict[str, Any] | None = None) -> None:
    """Every change made through the portal: who, what, when, from where."""
    who = user(request)
    await audit_store.record(deps(request).pool, user_id=who.user_id, email=who.email, action=action,
                             target=target, details=details, address=client_address(request))


def require(request: web.Request, *roles: str) -> User:
    """A person whose role may not open a page gets a not-found page: never leak that the page exists."""
    who = user(request)
    if not who.is_one_of(*roles):
        raise web.HTTPNotFound()
    return who


def require_permission(request: web.Request, permission: str) -> User:
    """A client whose profile does not allow this gets a not-found page (the control is hidden too)."""
    who = user(request)
    if not who.may(permission):
        raise web.HTTPNotFound()
    return who


@web.middleware
async def sessions(request: web.Request, handler: Any) -> web.StreamResponse:
    """Loads the person of the session cookie; pages other than the open ones need one."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        d = deps(request)
        session = await session_store.touch(d.pool, token, d.session_idle)
        person = await user_store.by_id(d.pool, session.user_id) if session else None
        if session and person and person.active:
            request[USER], request[CSRF], request[SESSION_TOKEN] = person, session.csrf_token, token
    if USER not in request and not request.path.startswith(OPEN_PATHS):
        raise web.HTTPSeeOther(f"/login?next={_safe_next(request.path_qs)}")
    return await handler(request)


@web.middleware
async def csrf_check(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every form that changes something carries the session's token (the sign-in form a pre-session one)."""
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        form = await request.post()
        presented = form.get(csrf.FIELD)
        expected = request.get(CSRF) if USER in request else request.cookies.get(PRE_SESSION_COOKIE)
        if not csrf.matches(expected, presented if isinstance(presented, str) else None):
            return page(request, "error.html", {
                "title": "Form expired",
                "message": "This form has expired or did not come from this site. Go back, reload the page "
                           "and try again."}, status=403)
    return await handler(request)


@web.middleware
async def errors_as_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceUnavailable as exc:
        return page(request, "error.html", {
            "title": "Service unavailable",
            "message": f"The {exc.service} service is not answering right now. Nothing was changed; "
                       "try again in a moment."}, status=503)
    except ServiceError as exc:
        if exc.status == 404:
            return page(request, "error.html", {"title": "Not found", "message": "That was not found."}, status=404)
        return page(request, "error.html", {"title": "Not possible",
                                            "message": sentence(exc.code, exc.message)}, status=exc.status)
    except web.HTTPNotFound:
        return page(request, "error.html", {"title": "Not found", "message": "That page was not found."},
                    status=404)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("page failed", path=request.path)
        return page(request, "error.html", {"title": "Something went wrong",
                                            "message": "Something went wrong on our side. Try again."}, status=500)


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


@web.middleware
async def security_headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """On every answer, redirects (raised as exceptions) included."""
    try:
        response = await handler(request)
    except web.HTTPException as raised:
        _secure(request, raised.headers)
        raise
    _secure(request, response.headers)
    return response


def _secure(request: web.Request, headers: Any) -> None:
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("X-Frame-Options", "DENY")
    if request.path != "/health" and not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"


def _safe_next(path: str) -> str:
    from urllib.parse import quote
    return quote(path if path.startswith("/") and not path.startswith("//") else "/", safe="")


def safe_redirect_target(value: str | None, fallback: str) -> str:
    """Only a path on this site: `next` must never send a person elsewhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return fallback
