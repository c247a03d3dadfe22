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


async def test_a_body_whose_content_encoding_does_not_decode_is_a_422(system):
    """Found by the API fuzzer: `Content-Encoding: gzip` on a body that is not gzip failed while the body
    was read, a 500 (the JSON APIs and the gateway's webhook alike); and where no handler read it, the
    answer came and then the connection broke under the next request."""
    await system.start("payments")
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    async with aiohttp.ClientSession() as http:
        for path, extra in (("/v1/payments", {**auth(MANAGER), "Idempotency-Key": "k-1"}),
                            ("/v1/webhooks/gateway", {"Webhook-Signature": "t=1,s=" + "0" * 64}),
                            # a role refused before any handler reads the body, on the same connection
                            ("/v1/settings/payment-processing/test", auth(MANAGER)),
                            ("/v1/payments", {**auth(MANAGER), "Idempotency-Key": "k-2"})):
            async with http.post(f"{system.urls['payments']}{path}", data=b"not gzip at all",
                                 headers={**headers, **extra}) as response:
                body = await response.json()
                assert (response.status, body["error"]["code"]) == (422, "invalid_request"), body
                assert "Content-Encoding" in body["error"]["message"] and set(body["error"]["details"]) <= {"fields"}
