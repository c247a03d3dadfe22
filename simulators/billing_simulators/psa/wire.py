"""What every Autotask operation shares: reading a JSON body, and ApiProblem,
an error the API answers as {"errors": [message]} with its status."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

NO_MATCH = "No matching records found. The operation was not completed."


class ApiProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def json_body(request: web.Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiProblem(400, "The request body is not valid JSON") from None
