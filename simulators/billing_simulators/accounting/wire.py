"""The QuickBooks wire format: JSON numbers for money, ISO strings for times, Fault bodies."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from aiohttp import web

from .timestamps import render_instant


class QboError(Exception):
    """A failure the API reports as a `Fault` body (external-apis.md 2.9)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: str = "",
        *,
        fault_type: str = "ValidationFault",
        element: str = "",
    ) -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.fault_type = fault_type
        self.element = element


def business_error(detail: str, element: str = "") -> QboError:
    return QboError(
        400,
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
        element=element,
    )


def not_found(entity: str, object_id: object) -> QboError:
    return QboError(
        400,
        "610",
        "Object Not Found",
        f"Object Not Found : Something you're trying to use has been made inactive or "
        f"does not exist: {entity} Id={object_id}",
    )


def required(element: str) -> QboError:
    return QboError(
        400,
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {element} is missing in the request",
        element=element,
    )


def invalid(detail: str, element: str = "") -> QboError:
    return QboError(400, "2010", "Request has invalid or unsupported property", detail, element=element)


def to_wire(value: Any) -> Any:
    """Stored objects to JSON-ready data; keys starting with `_` are simulator bookkeeping."""
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, Decimal):
        # The real API answers money as JSON numbers (`500.0`). A float built
        # from a 2-place Decimal prints back as the same digits.
        return float(value)
    if isinstance(value, datetime):
        return render_instant(value)
    return value


def time_field() -> str:
    return render_instant(datetime.now().astimezone())


def qbo_response(payload: dict[str, Any], status: int = 200) -> web.Response:
    body = dict(to_wire(payload))
    body.setdefault("time", time_field())
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/json",
        headers={"intuit_tid": uuid.uuid4().hex},
    )


def fault_response(error: QboError) -> web.Response:
    body = {
        "Fault": {
            "Error": [
                {
                    "Message": error.message,
                    "Detail": error.detail,
                    "code": error.code,
                    "element": error.element,
                }
            ],
            "type": error.fault_type,
        }
    }
    return qbo_response(body, status=error.status)


def auth_fault_response(detail: str) -> web.Response:
    """The transport-level 401: lowercase keys, epoch-millisecond time, www-authenticate."""
    body = {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                    "detail": detail,
                    "code": "3200",
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }
    return web.Response(
        status=401,
        text=json.dumps(body),
        content_type="application/json",
        headers={
            "WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"',
            "intuit_tid": uuid.uuid4().hex,
        },
    )


def throttle_error() -> QboError:
    return QboError(
        429,
        "3001",
        "ThrottleExceeded",
        "The request limit was reached. Wait 60 seconds before retrying.",
        fault_type="ThrottleExceeded",
    )


def decode_body(raw: str) -> Any:
    """Request JSON with every number as Decimal, so money never passes through float."""
    try:
        return json.loads(raw, parse_float=Decimal, parse_int=Decimal)
    except ValueError as exc:
        raise QboError(
            400, "2500", "Invalid Request", f"Request body is not valid JSON: {exc.msg}"
        ) from exc
