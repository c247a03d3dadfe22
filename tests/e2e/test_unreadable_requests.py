"""A request the HTTP parser cannot read (a request line or a header over its limits) is answered in
the contract's error shape, like any other error, not in aiohttp's own text/plain words. Found by the
API fuzzer: `400 Got more than 8190 bytes when reading: bytearray(b'/v1/invoices?organization_id=...')`."""
from __future__ import annotations

import aiohttp
import pytest

from tests.e2e.conftest import MANAGER, auth

pytestmark = pytest.mark.timeout(120)


async def test_an_overlong_request_line_or_header_gets_an_error_in_the_contract_shape(system):
    await system.start("payments")
    url = f"{system.urls['payments']}/v1/invoices"
    async with aiohttp.ClientSession() as http:
        for params, headers in (({"organization_id": "a" * 9000}, auth(MANAGER)),
                                ({}, {**auth(MANAGER), "X-Note": "b" * 9000})):
            async with http.get(url, params=params, headers=headers) as response:
                assert 400 <= response.status < 500 and response.content_type == "application/json"
                body = await response.json()
                assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
                assert body["error"]["code"] == "invalid_request"
                text = await response.text()
                assert "bytearray" not in text and "8190" not in text and "aaaa" not in text and "bbbb" not in text
