"""People's identities from the portal: signed, short-lived, and bound by the same rules as tokens."""
from __future__ import annotations

import time

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from billing_shared.settings import ServiceSettings
from billing_shared.web.app import create_app, json_ok
from billing_shared.web.auth import principal
from billing_shared.web.identity import Identity, InvalidIdentity, sign, verify
from billing_shared.web.routes import ApiRoutes

pytestmark = pytest.mark.timeout(30)

KEY = "k" * 64
PAT = Identity(subject="user-7", role="client", organization_id="autotask:678", contact_id="autotask:901",
               permissions=frozenset({"view_invoices"}))


def test_a_signed_identity_reads_back_as_the_person():
    assert verify(sign(PAT, KEY), KEY) == PAT


@pytest.mark.parametrize("tamper", [
    lambda t: sign(PAT, "x" * 40),                                            # another key
    lambda t: sign(PAT, KEY, lifetime_seconds=60, now=time.time() - 120),     # expired
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),               # signature changed
    lambda t: jwt.encode({"sub": "u", "role": "admin", "exp": time.time() + 60, "iat": time.time(),
                          "aud": "billing-link-services", "iss": "billing-link-portal"}, KEY, algorithm="HS512"),
    lambda t: jwt.encode({"sub": "u", "role": "client", "exp": time.time() + 60, "iat": time.time(),
                          "aud": "billing-link-services", "iss": "billing-link-portal"}, KEY, algorithm="HS256"),
    lambda t: jwt.encode({"sub": "u", "role": "root", "exp": time.time() + 60, "iat": time.time(),
                          "aud": "billing-link-services", "iss": "billing-link-portal"}, KEY, algorithm="HS256"),
])
def test_forged_expired_or_malformed_identities_are_refused(tamper):
    with pytest.raises(InvalidIdentity):
        verify(tamper(sign(PAT, KEY)), KEY)


def test_a_short_key_is_refused_at_signing():
    with pytest.raises(ValueError):
        sign(PAT, "short")


@pytest.fixture
async def service():
    routes = ApiRoutes()

    @routes.route("GET", "/v1/whoami", summary="who", roles=("admin", "manager", "client"))
    async def whoami(request: web.Request) -> web.Response:
        who = principal(request)
        return json_ok({"role": who.role, "organization_id": who.organization_id,
                        "may_pay": who.may("make_payments")})

    @routes.route("GET", "/v1/settings", summary="admin only", roles=("admin",))
    async def settings(_: web.Request) -> web.Response:
        return json_ok({})

    app = create_app("t", ServiceSettings(identity_key=KEY, api_tokens='[{"token": "m", "role": "manager"}]'),
                     routes)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_a_service_applies_its_rules_to_the_person_named_in_the_identity(service):
    answer = await service.get("/v1/whoami", headers={"Authorization": f"Bearer {sign(PAT, KEY)}"})
    assert answer.status == 200
    assert await answer.json() == {"role": "client", "organization_id": "autotask:678", "may_pay": False}
    manager = sign(Identity(subject="u2", role="manager"), KEY)
    assert (await service.get("/v1/settings", headers={"Authorization": f"Bearer {manager}"})).status == 403
    assert (await service.get("/v1/whoami", headers={"Authorization": "Bearer m"})).status == 200


@pytest.mark.parametrize("token", [sign(PAT, "x" * 40), sign(PAT, KEY, now=time.time() - 3600), "a.b.c"])
async def test_a_service_refuses_identities_it_cannot_verify(service, token):
    answer = await service.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 401
    assert (await answer.json())["error"]["code"] == "unauthorized"
