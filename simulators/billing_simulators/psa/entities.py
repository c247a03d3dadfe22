"""The entities the simulator serves, with their REST field names and rules.

Field lists follow external-apis.md 1.6 (AT-OAS models). BillingItems is not
listed there beyond `invoiceID` [C]; its other field names are [?].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .values import BOOL, DATE, DATETIME, FLOAT, INT, STR, UDFS


@dataclass(frozen=True)
class EntitySpec:
    name: str
    fields: dict[str, str]  # REST field name -> value kind (values.py)
    first_id: int  # distinct id ranges, so an id of the wrong entity never matches
    defaults: dict[str, Any] = field(default_factory=dict)
    can_create: bool = True
    can_update: bool = True
    required: tuple[str, ...] = ()
    read_only: frozenset[str] = frozenset({"id"})
    writable_only: frozenset[str] | None = None  # when set, PATCH may touch only these
    not_queryable: frozenset[str] = frozenset()
    stamp_on_create: tuple[str, ...] = ()
    stamp_on_change: tuple[str, ...] = ()
    references: dict[str, str] = field(default_factory=dict)  # field -> entity it must exist in

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_lower", {f.lower(): f for f in self.fields})

    def canonical(self, name: str) -> str | None:
        """Field names match case-insensitively, as in the .NET API."""
        return self._by_lower.get(name.lower())  # type: ignore[attr-defined]


def _fields(spec: str) -> dict[str, str]:
    """Parse 'name:kind name:kind ...' (kept compact so the lists read like the docs)."""
    kinds = {"i": INT, "f": FLOAT, "s": STR, "b": BOOL, "dt": DATETIME, "d": DATE, "u": UDFS}
    out = {"id": INT}
    for item in spec.split():
        name, kind = item.split(":")
        out[name] = kinds[kind]
    return out


COMPANIES = EntitySpec(
    "Companies",
    _fields(
        "companyName:s companyNumber:s companyType:i isActive:b parentCompanyID:i ownerResourceID:i "
        "phone:s address1:s address2:s city:s state:s postalCode:s countryID:i "
        "billToCompanyLocationID:i billToAddressToUse:i billToAttention:s billingAddress1:s "
        "billingAddress2:s billToCity:s billToState:s billToZipCode:s billToCountryID:i currencyID:i "
        "invoiceMethod:i invoiceTemplateID:i invoiceEmailMessageID:i isTaxExempt:b taxID:s "
        "taxRegionID:i isClientPortalActive:b createDate:dt lastActivityDate:dt "
        "lastTrackedModifiedDateTime:dt webAddress:s userDefinedFields:u"
    ),
    first_id=1_000,
    defaults={"companyType": 1, "isActive": True, "isTaxExempt": False, "isClientPortalActive": False},
    required=("companyName",),
    read_only=frozenset({"id", "createDate", "lastActivityDate", "lastTrackedModifiedDateTime"}),
    stamp_on_create=("createDate", "lastActivityDate", "lastTrackedModifiedDateTime"),
    stamp_on_change=("lastActivityDate", "lastTrackedModifiedDateTime"),
)

CONTACTS = EntitySpec(
    "Contacts",
    _fields(
        "companyID:i companyLocationID:i firstName:s lastName:s emailAddress:s emailAddress2:s "
        "emailAddress3:s phone:s mobilePhone:s alternatePhone:s title:s isActive:i primaryContact:b "
        "billingContact:b externalID:s createDate:dt lastActivityDate:dt lastModifiedDate:dt "
        "receivesEmailNotifications:b userDefinedFields:u"
    ),
    first_id=1_000_000,
    # isActive is an int32 (1/0), not a bool [C: AT-OAS ContactModel].
    defaults={"isActive": 1, "primaryContact": False, "billingContact": False,
              "receivesEmailNotifications": True},
    required=("companyID", "firstName", "lastName"),
    read_only=frozenset({"id", "createDate", "lastActivityDate", "lastModifiedDate"}),
    stamp_on_create=("createDate", "lastActivityDate", "lastModifiedDate"),
    stamp_on_change=("lastActivityDate", "lastModifiedDate"),
    references={"companyID": "Companies"},
)

CONTRACTS = EntitySpec(
    "Contracts",
    _fields(
        "companyID:i contractName:s contractNumber:s contractType:i contractCategory:i "
        "contractPeriodType:i status:i startDate:dt endDate:dt isDefaultContract:b "
        "billingPreference:i billToCompanyID:i billToCompanyContactID:i contactID:i contactName:s "
        "purchaseOrderNumber:s serviceLevelAgreementID:i setupFee:f estimatedRevenue:f "
        "estimatedCost:f estimatedHours:f opportunityID:i renewedContractID:i "
        "lastModifiedDateTime:dt userDefinedFields:u"
    ),
    first_id=2_000_000,
    defaults={"status": 1, "isDefaultContract": False},
    required=("companyID", "contractName"),
    read_only=frozenset({"id", "lastModifiedDateTime"}),
    stamp_on_create=("lastModifiedDateTime",),
    stamp_on_change=("lastModifiedDateTime",),
    references={"companyID": "Companies"},
)

TICKETS = EntitySpec(
    "Tickets",
    _fields(
        "ticketNumber:s title:s description:s companyID:i contactID:i contractID:i "
        "companyLocationID:i status:i priority:i queueID:i issueType:i subIssueType:i ticketType:i "
        "ticketCategory:i source:i dueDateTime:dt assignedResourceID:i assignedResourceRoleID:i "
        "createDate:dt creatorResourceID:i creatorType:i lastActivityDate:dt "
        "lastActivityPersonType:i lastTrackedModificationDateTime:dt completedDate:dt "
        "resolvedDateTime:dt opportunityID:i projectID:i userDefinedFields:u"
    ),
    first_id=3_000_000,
    defaults={"ticketType": 1, "creatorType": 1},
    required=(),  # from PsaSimConfig.ticket_required_fields ([T]/[?])
    read_only=frozenset({"id", "ticketNumber", "createDate", "creatorResourceID", "creatorType",
                         "lastActivityDate", "lastActivityPersonType",
                         "lastTrackedModificationDateTime"}),
    not_queryable=frozenset({"creatorType", "lastActivityPersonType"}),
    stamp_on_create=("createDate", "lastActivityDate", "lastTrackedModificationDateTime"),
    stamp_on_change=("lastActivityDate", "lastTrackedModificationDateTime"),
    references={"companyID": "Companies"},
)

OPPORTUNITIES = EntitySpec(
    "Opportunities",
    _fields(
        "title:s companyID:i contactID:i amount:f cost:f status:i stage:i probability:i "
        "projectedCloseDate:dt closedDate:dt lostDate:dt createDate:dt lastActivity:dt "
        "ownerResourceID:i monthlyRevenue:f onetimeRevenue:f yearlyRevenue:f useQuoteTotals:b "
        "winReason:s lossReason:s userDefinedFields:u"
    ),
    first_id=4_000_000,
    defaults={"status": 1, "useQuoteTotals": False},  # status 1 = active
    required=("companyID", "title"),
    read_only=frozenset({"id", "createDate", "lastActivity"}),
    stamp_on_create=("createDate", "lastActivity"),
    stamp_on_change=("lastActivity",),
    references={"companyID": "Companies"},
)

INVOICES = EntitySpec(
    "Invoices",
    _fields(
        "companyID:i invoiceNumber:s invoiceDateTime:dt createDateTime:dt fromDate:dt toDate:dt "
        "dueDate:dt invoiceTotal:f totalTaxValue:f paidDate:d isVoided:b voidedDate:dt "
        "voidedByResourceID:i paymentTerm:i orderNumber:s comments:s batchID:i "
        "creatorResourceID:i invoiceEditorTemplateID:i taxGroup:i taxRegionName:s "
        "invoiceStatus:i invoiceTaxMethodExternalCode:s webServiceDate:dt"
    ),
    first_id=5_000_000,
    defaults={"isVoided": False, "invoiceTotal": 0.0, "totalTaxValue": 0.0},
    can_create=False,  # Can Create: no [C]
    # invoiceNumber and webServiceDate are written by integrations [C: AT-QBO];
    # paidDate writable is [?], allowed here as the brief requires.
    writable_only=frozenset({"invoiceNumber", "paidDate", "webServiceDate"}),
    # dueDate "cannot be queried" [C: AT-INV]. No last-modified field exists [C].
    not_queryable=frozenset({"dueDate"}),
    stamp_on_create=("createDateTime",),
)

BILLING_ITEMS = EntitySpec(
    "BillingItems",
    _fields(
        "invoiceID:i companyID:i contractID:i ticketID:i itemName:s description:s quantity:f "
        "rate:f extendedPrice:f taxDollars:f totalAmount:f itemDate:dt postedDate:dt "
        "billingItemType:i webServiceDate:dt"
    ),
    first_id=6_000_000,
    can_create=False,
    can_update=False,
    stamp_on_create=("postedDate",),
)

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (COMPANIES, CONTACTS, CONTRACTS, TICKETS, OPPORTUNITIES, INVOICES, BILLING_ITEMS)
}
_BY_LOWER = {name.lower(): spec for name, spec in ENTITIES.items()}

# Children reachable through a parent's URL: (parent, child) -> the child's parent field.
CHILDREN: dict[tuple[str, str], str] = {("Companies", "Contacts"): "companyID"}


def entity_spec(name: str) -> EntitySpec | None:
    return _BY_LOWER.get(name.lower())
