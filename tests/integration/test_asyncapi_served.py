"""`GET /asyncapi.json` on each running service (issue 14, item 1): public like /openapi.json, the service's
AsyncAPI 3.0 document, and its receive operations are exactly the consumer groups the running service started
(group, topic and the event types their handlers take), against the real Kafka and Postgres."""
from __future__ import annotations

import json
import secrets
from contextlib import AsyncExitStack

import aiohttp
import pytest

from billing_notifications.bootstrap import build_app as notifications_app
from billing_notifications.config import NotificationsSettings
from billing_payments.bootstrap import build_app as payments_app
from billing_payments.config import PaymentsSettings
from billing_portal.bootstrap import build_app as portal_app
from billing_portal.config import PortalSettings
from billing_shared.events.asyncapi import Consumer, build_asyncapi, surface_of
from billing_shared.runtime import RUNTIME
from billing_sync.bootstrap import build_app as sync_app
from billing_sync.config import SyncSettings
from tests.integration.test_edge_validation import TOKENS, serving, settings

pytestmark = pytest.mark.timeout(120)


def received(doc: dict) -> set[tuple[str, str, str]]:
    """(group, topic, event type) of every receive operation of an AsyncAPI document."""
    found = set()
    for op in doc["operations"].values():
        if op["action"] == "receive":
            group = op["bindings"]["kafka"]["groupId"]["const"]
            topic = doc["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]
            found |= {(group, topic, m["$ref"].rsplit("/", 1)[-1]) for m in op["messages"]}
    return found


async def test_every_running_service_answers_its_asyncapi_document(infra, database_url, topic_prefix):
    apps = {
        "sync": sync_app(settings(SyncSettings, infra, database_url, topic_prefix, scheduler_tick_seconds=60)),
        "payments": payments_app(settings(PaymentsSettings, infra, database_url, topic_prefix,
                                          gateway_base_url="http://127.0.0.1:9", gateway_webhook_signing_key="k")),
        "notifications": notifications_app(settings(NotificationsSettings, infra, database_url, topic_prefix,
                                                    freshness_enabled=False)),
        "portal": portal_app(PortalSettings(
            database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap, kafka_topic_prefix=topic_prefix,
            api_tokens=TOKENS, identity_key=secrets.token_urlsafe(48), portal_users="[]", log_level="WARNING",
            log_format="console")),
    }
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        for service, app in apps.items():
            url = await stack.enter_async_context(serving(app))
            # Public, like /openapi.json: no token, no session.
            async with http.get(f"{url}/asyncapi.json", allow_redirects=False) as response:
                assert response.status == 200, (service, response.status)
                assert response.content_type == "application/json"
                doc = json.loads(await response.text())
            assert doc == json.loads(json.dumps(build_asyncapi(surface_of(service))))
            assert doc["asyncapi"] == "3.0.0" and doc["info"]["title"] == f"billing-link {service} events"
            # What the running service consumes is what its document says.
            started = {(c.group, topic, t) for runner in app[RUNTIME].consumers for topic in runner.topics
                       for c in [Consumer.of(runner.name, topic, runner.handlers)] for t in c.event_types}
            assert started and received(doc) == started, service
            types = {t for _, _, t in received(doc)}
            assert {"sync": "invoice.upserted", "payments": "invoice.synced", "notifications": "payment.succeeded",
                    "portal": "contact.synced"}[service] in types
