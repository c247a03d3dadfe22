"""The SMTP sink: SMTP in, an HTTP view of what arrived (CONTRACT.md "Simulator control")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from .mailbox import Mailbox, SinkSettings
from .smtp_server import SmtpListener

SMTP_LISTENER = web.AppKey("smtp_listener", SmtpListener)


def _mailbox(request: web.Request) -> Mailbox:
    return request.app[SMTP_LISTENER].mailbox


async def list_messages(request: web.Request) -> web.Response:
    messages = _mailbox(request).messages
    wanted = request.query.get("to")
    if wanted:
        messages = [m for m in messages if wanted.lower() in (t.lower() for t in m["to"])]
    return web.json_response(messages)


async def clear_messages(request: web.Request) -> web.Response:
    _mailbox(request).clear()
    return web.json_response({"ok": True})


async def reset(request: web.Request) -> web.Response:
    mailbox = _mailbox(request)
    mailbox.clear()
    mailbox.settings = SinkSettings()
    mailbox.rejected = 0
    await request.app[SMTP_LISTENER].start()
    return web.json_response({"ok": True})


def _config_view(request: web.Request) -> dict:
    listener = request.app[SMTP_LISTENER]
    settings = listener.mailbox.settings
    return {
        "reject": settings.reject,
        "reject_code": settings.reject_code,
        "reject_message": settings.reject_message,
        "rejected": listener.mailbox.rejected,
        "smtp_running": listener.running,
        "smtp_port": listener.port,
    }


async def show_config(request: web.Request) -> web.Response:
    return web.json_response(_config_view(request))


async def change_config(request: web.Request) -> web.Response:
    body = await request.json()
    settings = _mailbox(request).settings
    if "reject" in body:
        settings.reject = bool(body["reject"])
    if "reject_code" in body:
        code = int(body["reject_code"])
        if not 400 <= code <= 599:
            return web.json_response({"error": "reject_code must be a 4xx or 5xx SMTP code"}, status=400)
        settings.reject_code = code
    if "reject_message" in body:
        settings.reject_message = str(body["reject_message"])
    return web.json_response(_config_view(request))


async def stop_smtp(request: web.Request) -> web.Response:
    """Close the SMTP port (connections refused) while the HTTP view stays up."""
    await request.app[SMTP_LISTENER].stop()
    return web.json_response(_config_view(request))


async def start_smtp(request: web.Request) -> web.Response:
    await request.app[SMTP_LISTENER].start()
    return web.json_response(_config_view(request))


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "smtp_running": request.app[SMTP_LISTENER].running})


def create_app(host: str = "127.0.0.1", smtp_port: int = 1025) -> web.Application:
    app = web.Application()
    app[SMTP_LISTENER] = SmtpListener(Mailbox(), host, smtp_port)

    async def smtp_lifetime(app: web.Application) -> AsyncIterator[None]:
        await app[SMTP_LISTENER].start()
        yield
        await app[SMTP_LISTENER].stop()

    app.cleanup_ctx.append(smtp_lifetime)
    app.router.add_get("/health", health)
    app.router.add_get("/_sim/messages", list_messages)
    app.router.add_delete("/_sim/messages", clear_messages)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_get("/_sim/config", show_config)
    app.router.add_put("/_sim/config", change_config)
    app.router.add_post("/_sim/smtp/stop", stop_smtp)
    app.router.add_post("/_sim/smtp/start", start_smtp)
    return app


@dataclass
class SinkHandle:
    """A sink running inside the caller's event loop (tests)."""

    runner: web.AppRunner
    host: str
    smtp_port: int
    http_port: int

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def mailbox(self) -> Mailbox:
        return self.runner.app[SMTP_LISTENER].mailbox

    @property
    def smtp(self) -> SmtpListener:
        return self.runner.app[SMTP_LISTENER]

    async def stop(self) -> None:
        await self.runner.cleanup()


async def start_sink(host: str = "127.0.0.1", smtp_port: int = 1025, http_port: int = 9104) -> SinkHandle:
    """Start both sides; port 0 picks a free port (read the real ones from the handle)."""
    runner = web.AppRunner(create_app(host, smtp_port), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, http_port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_http_port = runner.addresses[0][1]
    return SinkHandle(runner, host, runner.app[SMTP_LISTENER].port, bound_http_port)
