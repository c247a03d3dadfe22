"""`{"error": {"code", "message", "details"}}` for every failure (CONTRACT.md "Errors")."""
from __future__ import annotations

import errno
import json
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler, RequestPayloadError
from pydantic import ValidationError

from billing_shared.text import CONTROL_CHARACTERS, holds_nul

log = structlog.get_logger(__name__)


class ApiError(Exception):
    close_connection = False  # the body was not read to its end: the connection cannot carry another request

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return web.json_response(body, status=status)


def invalid_request(message: str, details: dict[str, Any] | None = None) -> ApiError:
    return ApiError(422, "invalid_request", message, details)


def not_found(what: str = "object") -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def forbidden(message: str = "this role may not do that") -> ApiError:
    return ApiError(403, "forbidden", message)


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """`{"fields": {"amount": "must be a decimal with at most two places"}}`: in our words, never
    pydantic's text (which quotes the input and links to its own documentation)."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in error["loc"]) or "body"
        fields.setdefault(name, _our_words(error))
    return {"fields": fields}


def validation_message(details: dict[str, Any]) -> str:
    """The first field's problem in a sentence: "amount must be a decimal with at most two places"."""
    fields = details.get("fields") or {}
    if not fields:
        return "the request is not valid"
    name, words = next(iter(fields.items()))
    more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
    return f"{name} {words}{more}"[:500]


def _our_words(error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])  # our own validators' words
    if kind in ("too_short", "too_long") and ctx.get("field_type") == "Value":
        kind = f"string_{kind}"  # a length checked after a validator (`Line | None`): text, not a collection
    if kind in _LIMITS:
        return _LIMITS[kind].format(**ctx)
    for prefix, words in _WORDS.items():
        if kind.startswith(prefix):
            return words
    return "is not valid"


_LIMITS = {
    "greater_than": "must be greater than {gt}", "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "too_short": "must have at least {min_length} items", "too_long": "must have at most {max_length} items",
    "literal_error": "must be one of {expected}", "enum": "must be one of {expected}",
}
_WORDS = {
    "missing": "is required", "extra_forbidden": "is not a field of this request",
    "int_": "must be a whole number", "bool_": "must be true or false", "string_": "must be text",
    "float_": "must be a number", "decimal_": "must be a decimal", "date": "must be a date like 2026-11-27",
    "datetime": "must be a date and time like 2026-11-27T10:00:00Z", "uuid": "must be a UUID",
    "list_": "must be a list", "dict_": "must be an object", "model_": "must be an object",
    "union_tag": "is not one of the known kinds", "url": "must be a URL",
}

_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
               413: "invalid_request", 415: "unsupported_media_type"}
_HTTP_WORDS = {404: "no such resource", 405: "this method is not allowed here",
               413: "the body is larger than this API accepts", 415: "send the body as application/json"}


def database_unreachable(exc: BaseException) -> bool:
    """The database is restarting, shutting down or cannot be reached: nothing was decided, the same
    request may be sent again (a payment with its Idempotency-Key)."""
    if isinstance(exc, (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                        asyncpg.InterfaceError, ConnectionError)):
        return True
    return isinstance(exc, OSError) and (exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET)
                                         or "Connect call failed" in str(exc))


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        if request.body_exists:
            # Read before anything answers: a body that cannot be read and that no handler read (a refused
            # role, a route that takes none) would otherwise break the connection after its answer.
            await read_body(request)
        return await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        if exc.close_connection:
            response.force_close()  # says `Connection: close`, so the client does not send on it again
        return response
    except ValidationError as exc:
        details = validation_details(exc)
        return error_response(422, "invalid_request", validation_message(details), details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "invalid_request" if exc.status < 500 else "internal_error")
        return error_response(exc.status, code, _HTTP_WORDS.get(exc.status, exc.reason or code))
    except Exception as exc:
        if database_unreachable(exc):
            log.warning("database unreachable", path=request.path, method=request.method, error=repr(exc))
            response = error_response(503, "service_unavailable",
                                      "the service cannot reach its database just now; send the request again shortly")
            response.headers["Retry-After"] = "2"
            return response
        log.exception("unhandled error", path=request.path, method=request.method)
        return error_response(500, "internal_error", "something went wrong on our side")


def answer_unreadable_requests_in_our_shape() -> None:
    """aiohttp answers a request its parser refuses (a request line or a header over its limits, bad
    framing) and a failure outside the middlewares itself, in text/plain and in its own words, quoting
    the request (`Got more than 8190 bytes when reading: bytearray(b'...')`); the middlewares never see
    it. There is no hook for that answer but RequestHandler.handle_error, so this wraps it (once per
    process, in run_service): same status, the contract's body."""
    if getattr(RequestHandler.handle_error, "in_our_shape", False):
        return
    original = RequestHandler.handle_error

    def handle_error(self: RequestHandler, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        original(self, request, status, exc, message)  # logs; raises when a response was already under way
        if status >= 500:
            response = error_response(status, "internal_error", "something went wrong on our side")
        else:
            response = error_response(status, "invalid_request", "the request could not be read: its line or a "
                                      "header is longer than this server accepts, or it is not well-formed HTTP")
        response.force_close()
        return response

    handle_error.in_our_shape = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]


JSON_TYPES = ("application/json",)


async def read_json(request: web.Request) -> Any:
    """The request body as JSON. An empty body is `{}`; a body that is not `application/json` is a 415;
    one that does not parse (bad JSON, NaN, integers of more than 4,300 digits, nesting too deep) or
    holds a NUL character (Postgres cannot store one) is a 422: never a 500, never the parser's text."""
    raw = await read_body(request)
    if not raw.strip():
        return {}
    if request.content_type not in JSON_TYPES and not request.content_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the body as application/json",
                       {"content_type": request.content_type})
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise invalid_request("the body is not valid JSON", {"line": exc.lineno, "column": exc.colno}) from None
    except (ValueError, RecursionError):  # not UTF-8, NaN or Infinity, a number too long, nesting too deep
        raise invalid_request("the body is not valid JSON") from None
    if holds_nul(value):
        raise invalid_request("text may not contain the NUL character (\\u0000)")
    return value


async def read_body(request: web.Request) -> bytes:
    """The raw body; one that cannot be read (gzip that is not gzip, broken chunked framing) is a 422, not
    the reader's error as a 500."""
    try:
        return await request.read()
    except RequestPayloadError:
        error = invalid_request("the body could not be read: it does not decode as its Content-Encoding says, "
                                "or its framing is broken")
        error.close_connection = True
        raise error from None


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def refuse_control_characters(request: web.Request) -> None:
    """Path and query values are ids, names, dates and cursors: a control character in one is a 422,
    never a database error."""
    for where, values in (("path", request.match_info.items()), ("query", request.query.items())):
        for name, value in values:
            if CONTROL_CHARACTERS.search(name) or CONTROL_CHARACTERS.search(value):
                field = where if CONTROL_CHARACTERS.search(name) else name
                raise invalid_request(f"{where} parameters may not contain control characters",
                                      {"fields": {field: "may not contain control characters"}})
