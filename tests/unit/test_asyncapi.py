"""The AsyncAPI 3.0 documents of the services (issue 14, item 1): valid against the AsyncAPI 3.0.0 JSON Schema
shipped in docs/asyncapi/schema, the committed copies current, every event type of the catalog in some
document, and what each document says a service consumes and publishes is what its code wires and writes."""
from __future__ import annotations

import ast
import copy
import importlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings

from billing_notifications.entrypoints.consumers import consumers
from billing_notifications.service.intake import Intake
from billing_shared.events.asyncapi import REGENERATE, SURFACES, Consumer, build_asyncapi, render, surface_of
from billing_shared.events.catalog import EVENTS_BY_TOPIC
from tests.unit.test_events import events

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "asyncapi"
SCHEMA = json.loads((DOCS / "schema" / "asyncapi-3.0.0.json").read_text(encoding="utf-8"))
CLASS_TOPIC = {cls: topic for topic, classes in EVENTS_BY_TOPIC.items() for cls in classes}
CLASS_BY_NAME = {cls.__name__: cls for cls in CLASS_TOPIC}


def document(service: str) -> dict[str, Any]:
    return build_asyncapi(surface_of(service))


def errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return resolve(doc, node["$ref"]) if isinstance(node, dict) and "$ref" in node else node


def messages_of(doc: dict[str, Any], action: str) -> set[tuple[str, str]]:
    """(topic, event type) of every message the document's operations of `action` name."""
    found = set()
    for op in doc["operations"].values():
        if op["action"] == action:
            topic = resolve(doc, op["channel"]["$ref"])["address"]
            found |= {(topic, resolve(doc, m["$ref"])["name"]) for m in op["messages"]}
    return found


def test_the_shipped_schema_is_the_asyncapi_3_schema_and_refuses_a_wrong_document():
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["asyncapi"]["const"] == "3.0.0"
    # It bites: an AsyncAPI 2 verb, a channel reference that is no reference, a payload schema of a wrong type.
    for spoil in (lambda d: d["operations"]["send.billing.portal.v1"].update(action="publish"),
                  lambda d: d["operations"]["send.billing.portal.v1"].update(channel="billing.portal.v1"),
                  lambda d: d["components"]["schemas"]["InvitationSent"].update(type=5),
                  lambda d: d.pop("info")):
        doc = copy.deepcopy(document("portal"))
        spoil(doc)
        assert errors(doc), "the schema took a wrong document"


@pytest.mark.parametrize("service", SURFACES)
def test_each_document_is_valid_asyncapi_3_and_its_references_resolve(service):
    doc = document(service)
    assert errors(doc) == []
    for ref in refs(doc):
        resolve(doc, ref)  # a KeyError names the dangling reference
    for op in doc["operations"].values():
        channel = resolve(doc, op["channel"]["$ref"])
        # Operations name their channel's messages (AsyncAPI 3: `#/channels/<id>/messages/<id>`).
        assert all(m["$ref"].startswith(op["channel"]["$ref"] + "/messages/") for m in op["messages"]), op
        assert channel["address"] in EVENTS_BY_TOPIC


@pytest.mark.parametrize("service", SURFACES)
def test_the_committed_document_is_current(service):
    path = DOCS / f"{service}.json"
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    assert committed == render(document(service)), (
        f"{path.relative_to(ROOT)} is not what the event models and {SURFACES[service]} say now; "
        f"regenerate it with: {REGENERATE}")


def test_every_event_type_of_the_catalog_is_in_some_document():
    documented = set()
    for service in SURFACES:
        doc = document(service)
        documented |= messages_of(doc, "send") | messages_of(doc, "receive")
    assert documented == {(topic, cls.TYPE) for cls, topic in CLASS_TOPIC.items()}


def test_payloads_are_the_event_models_schemas():
    """One source of truth: each message's payload is the pydantic model's own JSON Schema."""
    doc = document("payments")
    message = doc["components"]["messages"]["PaymentSucceeded"]
    schema = resolve(doc, message["payload"]["$ref"])
    assert message["name"] == "payment.succeeded"
    assert set(schema["required"]) == {"event_id", "occurred_at", "producer", "organization_id", "data"}
    assert schema["properties"]["event_type"]["const"] == "payment.succeeded"
    snapshot = resolve(doc, schema["properties"]["data"]["$ref"])
    # Money as our producers write it (a string); upstream systems may send a number (sync's document).
    assert snapshot["properties"]["sale_amount"]["type"] == "string"
    upstream = document("sync")
    invoice = resolve(upstream, resolve(upstream, upstream["components"]["messages"]["InvoiceUpserted"]["payload"]
                                        ["$ref"])["properties"]["data"]["$ref"])
    assert {"number", "string"} == {kind["type"] for kind in invoice["properties"]["total"]["anyOf"]}


DOCUMENTS = {service: build_asyncapi(surface_of(service)) for service in SURFACES}


@settings(max_examples=200, deadline=None)
@given(events())
def test_every_event_as_written_is_valid_against_its_documented_payload(case):
    """The documents describe the wire: an event's JSON validates against its message's payload schema in
    every document that carries it (and a wrong one does not)."""
    topic, event = case
    raw = json.loads(event.to_json())
    carried = 0
    for doc in DOCUMENTS.values():
        channel = doc["channels"].get(topic)
        if channel is None or event.event_type not in channel["messages"]:
            continue
        payload = resolve(doc, channel["messages"][event.event_type]["$ref"])["payload"]
        validator = jsonschema.Draft7Validator({**doc, "$ref": payload["$ref"]})
        assert list(validator.iter_errors(raw)) == []
        assert not validator.is_valid({**raw, "occurred_at": 5, "data": "x"})
        carried += 1
    assert carried


def _handler_types(expr: ast.expr, module: Any) -> tuple[str, ...]:
    """The event types of the handler map a bootstrap passes to `consume(...)`."""
    if isinstance(expr, ast.Dict):
        return tuple(sorted(k.value for k in expr.keys if isinstance(k, ast.Constant)))
    if isinstance(expr, ast.Name):
        return tuple(sorted(getattr(module, expr.id)))
    if isinstance(expr, ast.Call) and ast.unparse(expr.func) == "dict.fromkeys":
        return tuple(sorted(getattr(module, expr.args[0].id)))  # type: ignore[attr-defined]
    raise AssertionError(f"cannot read the handler map {ast.unparse(expr)}")


def wired_groups(service: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """(group, topics, handled event types) of each `consume(...)` call of the service's bootstrap.py."""
    module = importlib.import_module(f"billing_{service}.bootstrap")
    catalog = importlib.import_module("billing_shared.events.catalog")
    wired = []
    for call in ast.walk(ast.parse(Path(module.__file__).read_text(encoding="utf-8"))):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "consume":
            group, topics, handlers = call.args
            if isinstance(group, ast.Constant):
                names = tuple(getattr(catalog, t.id) for t in topics.elts)  # type: ignore[attr-defined]
                wired.append((group.value, names, _handler_types(handlers, module)))
            else:  # notifications: `for spec in consumers(intake): runtime.consume(spec.name, ...)`
                assert ast.unparse(call) == "runtime.consume(spec.name, spec.topics, spec.handlers)"
                wired += [(s.name, tuple(s.topics), tuple(sorted(s.handlers))) for s in consumers(Intake())]
    return wired


@pytest.mark.parametrize("service", SURFACES)
def test_each_service_consumes_what_its_document_says(service):
    groups = wired_groups(service)
    for group, topics, types in groups:
        carried = {cls.TYPE for topic in topics for cls in EVENTS_BY_TOPIC[topic]}
        assert set(types) <= carried, f"{group} handles types none of its topics carries"
    wired = {Consumer.of(group, topic, types) for group, topics, types in groups for topic in topics}
    assert wired and set(surface_of(service).consumes) == wired
    doc = document(service)
    assert messages_of(doc, "receive") == {(c.topic, t) for c in wired for t in c.event_types}
    documented = {op["bindings"]["kafka"]["groupId"]["const"] for op in doc["operations"].values()
                  if op["action"] == "receive"}
    assert documented == {group for group, _, _ in groups}


PUBLISH = re.compile(r"\bpublish\((?:\s*\w+\s*,)?\s*([\w.]+?)(\[[^\]]*\])?\.new\(")


def published_classes(service: str) -> set[type]:
    """The event classes a service's `publish(...)` calls write, read from its source; a class chosen at run
    time (`EVENT_CLASSES[t].new`, `event_class.new`) stands for the classes its file names."""
    found: set[type] = set()
    package = ROOT / "services" / service / f"billing_{service}"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for match in PUBLISH.finditer(text):
            name = match.group(1).rsplit(".", 1)[-1]
            if name in CLASS_BY_NAME and not match.group(2):
                found.add(CLASS_BY_NAME[name])
            else:
                named = {cls for n, cls in CLASS_BY_NAME.items() if re.search(rf"\b{n}\b", text)}
                assert named, f"{path}: cannot tell what {match.group(0)} publishes"
                found |= named
    return found


@pytest.mark.parametrize("service", SURFACES)
def test_each_service_publishes_what_its_document_says(service):
    written = published_classes(service)
    surface = surface_of(service)
    declared = {cls for classes in surface.publishes.values() for cls in classes}
    assert declared == written
    assert all(CLASS_TOPIC[cls] == topic for topic, classes in surface.publishes.items() for cls in classes)
    assert messages_of(document(service), "send") == {(CLASS_TOPIC[cls], cls.TYPE) for cls in written}
