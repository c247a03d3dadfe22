"""AsyncAPI 3.0 documents of what each service sends and receives on Kafka, built from the event models.

A service declares its `EventSurface` (the topics and event classes it publishes, its consumer groups with
the event types their handler maps take); the payload schemas come from the pydantic models alone, so the
document cannot drift from the code. `python -m billing_shared.events.asyncapi docs/asyncapi` rewrites the
committed copies (docs/asyncapi/<service>.json) that a test compares with this output.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Literal

from pydantic.json_schema import models_json_schema

from .catalog import EVENTS_BY_TOPIC, UPSTREAM_INVOICES
from .envelope import Event

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
# Topics that systems outside billing-link write: their payloads are documented as sync accepts them
# (money as a number or a string); every other topic as our producers write it (money as a string).
INBOUND_TOPICS = frozenset({UPSTREAM_INVOICES})
# Where each service declares its surface (the regeneration command walks these).
SURFACES = {
    "sync": "billing_sync.entrypoints.asyncapi",
    "payments": "billing_payments.entrypoints.asyncapi",
    "notifications": "billing_notifications.entrypoints.asyncapi",
    "portal": "billing_portal.entrypoints.asyncapi",
}
REGENERATE = ".venv/bin/python -m billing_shared.events.asyncapi docs/asyncapi"


@dataclass(frozen=True)
class Consumer:
    """One consumer group on one topic and the event types its handlers take (others are skipped)."""

    group: str
    topic: str
    event_types: tuple[str, ...]

    @classmethod
    def of(cls, group: str, topic: str, handlers: Iterable[str]) -> Consumer:
        """`handlers`: the handler map the group is wired with (its keys are the event types). A group on
        several topics has one map for all of them: each topic takes the types it carries."""
        carried = {c.TYPE for c in EVENTS_BY_TOPIC[topic]}
        return cls(group, topic, tuple(sorted(t for t in handlers if t in carried)))


@dataclass(frozen=True)
class EventSurface:
    service: str
    description: str
    publishes: Mapping[str, tuple[type[Event], ...]]
    consumes: tuple[Consumer, ...]

    def sent(self) -> dict[str, tuple[type[Event], ...]]:
        return {topic: tuple(sorted(classes, key=lambda c: c.TYPE)) for topic, classes in sorted(self.publishes.items())}

    def received(self) -> dict[str, tuple[type[Event], ...]]:
        """Per topic, the classes some consumer group of the service takes."""
        found: dict[str, set[type[Event]]] = {}
        for consumer in self.consumes:
            found.setdefault(consumer.topic, set()).update(event_class(consumer.topic, t) for t in consumer.event_types)
        return {topic: tuple(sorted(classes, key=lambda c: c.TYPE)) for topic, classes in sorted(found.items())}


def event_class(topic: str, event_type: str) -> type[Event]:
    """The catalog's class for `event_type` on `topic`; a type the topic does not carry is a wiring error."""
    for cls in EVENTS_BY_TOPIC[topic]:
        if cls.TYPE == event_type:
            return cls
    raise ValueError(f"{topic} carries no event type {event_type!r} (see events/catalog.py)")


def _summary(cls: type) -> str | None:
    """The first paragraph of the class's docstring (most event classes have none: their data models speak)."""
    doc = (cls.__dict__.get("__doc__") or "").strip()
    return " ".join(doc.split("\n\n")[0].split()) if doc else None


def _schemas(pairs: list[tuple[str, type[Event]]]) -> tuple[dict[type[Event], dict[str, Any]], dict[str, Any]]:
    """Payload schemas of the (topic, class) pairs, with their shared definitions for components/schemas."""
    modes: dict[type[Event], Literal["validation", "serialization"]] = {
        cls: "validation" if topic in INBOUND_TOPICS else "serialization" for topic, cls in pairs}
    ordered = sorted(modes.items(), key=lambda m: m[0].__name__)
    refs, defs = models_json_schema(ordered, ref_template="#/components/schemas/{model}")
    return {cls: refs[(cls, mode)] for cls, mode in ordered}, defs.get("$defs", {})


def _message(cls: type[Event], payload: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"name": cls.TYPE, "title": cls.__name__}
    if summary := _summary(cls):
        message["summary"] = summary
    return message | {
        "contentType": "application/json",
        "payload": payload,
        "bindings": {"kafka": {"key": {"type": "string", "description": "The event's organization_id."},
                               "bindingVersion": KAFKA_BINDING}},
    }


def build_asyncapi(surface: EventSurface, version: str = "1") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service (a plain JSON-ready dict, keys in a stable order)."""
    sent, received = surface.sent(), surface.received()
    pairs = [(topic, cls) for side in (sent, received) for topic, classes in side.items() for cls in classes]
    payloads, schemas = _schemas(pairs)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in sorted({topic for topic, _ in pairs}):
        classes = sorted({cls for t, cls in pairs if t == topic}, key=lambda c: c.TYPE)
        for cls in classes:
            messages[cls.__name__] = _message(cls, payloads[cls])
        channels[topic] = {
            "address": topic,
            "description": f"The Kafka topic {topic} (its name is prefixed with KAFKA_TOPIC_PREFIX when one is set); "
                           "every message is one event envelope, keyed by organization_id.",
            "messages": {cls.TYPE: {"$ref": f"#/components/messages/{cls.__name__}"} for cls in classes},
            "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
        }
    operations: dict[str, Any] = {}
    for topic, classes in sent.items():
        operations[f"send.{topic}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic}"},
            "summary": f"{surface.service} publishes these event types to {topic}.",
            "messages": [{"$ref": f"#/channels/{topic}/messages/{cls.TYPE}"} for cls in classes],
        }
    for consumer in sorted(surface.consumes, key=lambda c: (c.group, c.topic)):
        operations[f"receive.{consumer.group}.{consumer.topic}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{consumer.topic}"},
            "summary": f"Consumer group {consumer.group} takes these event types (through its inbox, once each); "
                       "it skips the topic's other event types.",
            "messages": [{"$ref": f"#/channels/{consumer.topic}/messages/{t}"} for t in consumer.event_types],
            "bindings": {"kafka": {"groupId": {"type": "string", "const": consumer.group},
                                   "bindingVersion": KAFKA_BINDING}},
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": f"billing-link {surface.service} events", "version": version,
                 "description": surface.description},
        "defaultContentType": "application/json",
        "servers": {"kafka": {
            "host": "{bootstrap}",
            "protocol": "kafka",
            "description": "The Kafka cluster of the deployment (KAFKA_BOOTSTRAP_SERVERS).",
            "variables": {"bootstrap": {"default": "localhost:9092", "description": "One bootstrap server."}},
        }},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def render(document: dict[str, Any]) -> str:
    """The committed form: indented, keys in the order built, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def surface_of(service: str) -> EventSurface:
    return import_module(SURFACES[service]).SURFACE


def main(argv: list[str]) -> int:
    """Write docs for every service into the folder named (default docs/asyncapi)."""
    folder = Path(argv[0] if argv else "docs/asyncapi")
    folder.mkdir(parents=True, exist_ok=True)
    for service in SURFACES:
        path = folder / f"{service}.json"
        path.write_text(render(build_asyncapi(surface_of(service))), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
