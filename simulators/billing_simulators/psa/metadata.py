"""`{Entity}/entityInformation[/fields|/userDefinedFields]`, and the picklists
ticket writes are checked against.

Shapes [C: AT-OAS EntityInformationResultModel / FieldInformationResultModel;
field members as AT-DJ's fixtures carry them]: `{"info": {name, canCreate,
canDelete, canQuery, canUpdate, userAccessFor{Create,Delete,Query,Update},
hasUserDefinedFields, supportsWebhookCallouts}}` and `{"fields": [{name,
dataType, length, isRequired, isReadOnly, isQueryable, isReference,
referenceEntityType, isPickList, picklistValues, picklistParentValueField,
isSupportedWebhookField}]}`. A picklist value is `{value, label,
isDefaultValue, sortOrder, parentValue, isActive, isSystem}` with `value` a
string, while the entity carries the int [C: AT-DJ].

Picklist values are per tenant [T]: below is one plausible tenant. Ticket
status 1 New and 5 Complete are system values, and priorities 1 High, 2 Medium,
3 Low, 4 Critical are Autotask's defaults; queues and issue types include 5 and
3, the values the notifications tests send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .entities import EntitySpec
from .values import BOOL, DATE, DATETIME, FLOAT, INT, STR, UDFS

DATA_TYPES = {INT: "integer", FLOAT: "double", STR: "string", BOOL: "boolean",
              DATETIME: "datetime", DATE: "datetime"}
# Text lengths from the docs where known [C: AT-TKT]; other strings get 100 [?].
LENGTHS = {("Tickets", "title"): 250, ("Tickets", "description"): 8000}
WEBHOOK_ENTITIES = frozenset({"Companies", "Contacts", "Tickets"})  # [C: AT-WH]


@dataclass(frozen=True)
class Choice:
    value: int
    label: str
    default: bool = False
    active: bool = True
    system: bool = False
    parent: int | None = None  # subIssueType: the issueType it belongs to


def _choices(*rows: tuple) -> tuple[Choice, ...]:
    return tuple(Choice(*row) for row in rows)


PICKLISTS: dict[tuple[str, str], tuple[Choice, ...]] = {
    ("Tickets", "status"): _choices(
        (1, "New", True, True, True), (5, "Complete", False, True, True),
        (7, "Waiting Customer"), (8, "In Progress"), (9, "Waiting Materials"),
        (10, "Dispatched"), (11, "Escalate"), (12, "Waiting Vendor"), (13, "Waiting Approval")),
    ("Tickets", "priority"): _choices(
        (1, "High"), (2, "Medium", True), (3, "Low"), (4, "Critical")),
    ("Tickets", "queueID"): _choices(
        (5, "Post Sale"), (6, "Monitoring Alert"), (8, "Level I Support"),
        (29682833, "Client Portal", True), (29682969, "Level II Support"),
        (29683354, "Recurring Tickets"), (29683481, "Triage (retired)", False, False)),
    ("Tickets", "issueType"): _choices(
        (3, "Billing"), (4, "Hardware"), (6, "Software"), (7, "Network"), (9, "Account Management")),
    ("Tickets", "subIssueType"): _choices(
        (12, "Invoice question", False, True, False, 3), (13, "Payment failed", False, True, False, 3),
        (14, "Refund", False, True, False, 3), (21, "Printer", False, True, False, 4),
        (31, "Office 365", False, True, False, 6)),
    ("Tickets", "ticketType"): _choices(
        (1, "Service Request", True, True, True), (2, "Incident", False, True, True),
        (3, "Problem", False, True, True), (4, "Change Request", False, True, True),
        (5, "Alert", False, True, True)),
    ("Tickets", "source"): _choices(
        (-1, "Insourced", False, True, True), (2, "Phone"), (4, "Email"), (6, "Web Portal"),
        (8, "Monitoring Alert")),
}
PARENT_FIELD = {("Tickets", "subIssueType"): "issueType"}


def entity_information(spec: EntitySpec) -> dict[str, Any]:
    def access(allowed: bool) -> str:
        return "All" if allowed else "None"

    return {"info": {
        "name": spec.name, "canCreate": spec.can_create, "canDelete": False, "canQuery": True,
        "canUpdate": spec.can_update,
        "userAccessForCreate": access(spec.can_create), "userAccessForDelete": "None",
        "userAccessForQuery": "All", "userAccessForUpdate": access(spec.can_update),
        "hasUserDefinedFields": UDFS in spec.fields.values(),
        "supportsWebhookCallouts": spec.name in WEBHOOK_ENTITIES,
    }}


def _picklist_values(choices: tuple[Choice, ...]) -> list[dict[str, Any]]:
    return [{"value": str(c.value), "label": c.label, "isDefaultValue": c.default,
             "sortOrder": order, "parentValue": "" if c.parent is None else str(c.parent),
             "isActive": c.active, "isSystem": c.system}
            for order, c in enumerate(choices, start=1)]


def field_information(spec: EntitySpec, required: tuple[str, ...]) -> dict[str, Any]:
    fields = []
    for name, kind in spec.fields.items():
        if kind == UDFS:  # UDFs are described by entityInformation/userDefinedFields
            continue
        choices = PICKLISTS.get((spec.name, name))
        writable = name not in spec.read_only and (spec.can_create or spec.can_update) and (
            spec.writable_only is None or name in spec.writable_only)
        fields.append({
            "name": name, "dataType": "long" if name == "id" else DATA_TYPES[kind],
            "length": LENGTHS.get((spec.name, name), 100) if kind == STR else 0,
            "isRequired": name in required or name == "id", "isReadOnly": not writable,
            "isQueryable": name not in spec.not_queryable,
            "isReference": name in spec.references,
            "referenceEntityType": spec.references.get(name, ""),
            "isPickList": choices is not None,
            "picklistValues": _picklist_values(choices) if choices is not None else None,
            "picklistParentValueField": PARENT_FIELD.get((spec.name, name), ""),
            "isSupportedWebhookField": spec.name in WEBHOOK_ENTITIES and name != "id",
        })
    return {"fields": fields}


def picklist_problem(entity: str, values: dict[str, Any],
                     current: dict[str, Any] | None = None) -> str | None:
    """Why a write's picklist values would be refused, or None. Unknown and
    inactive values are refused; a sub-issue type must belong to the issue type."""
    merged = {**(current or {}), **values}
    for (owner, name), choices in PICKLISTS.items():
        if owner != entity or values.get(name) is None:
            continue
        choice = next((c for c in choices if c.value == values[name]), None)
        if choice is None or not choice.active:
            return f"Value {values[name]} of {name} is not a valid {entity} picklist value."
        parent_field = PARENT_FIELD.get((owner, name))
        if parent_field and choice.parent != merged.get(parent_field):
            return (f"Value {values[name]} of {name} is not a valid {entity} picklist value "
                    f"for {parent_field} {merged.get(parent_field)}.")
    return None
