"""What every entity's rules provide, and helpers they share (references, currencies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .wire import QboError, business_error, invalid, not_found, required

if TYPE_CHECKING:
    from .books import Books

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "CAD": "Canadian Dollar",
    "AUD": "Australian Dollar",
    "NZD": "New Zealand Dollar",
    "EUR": "Euro",
    "GBP": "British Pound Sterling",
}


class EntityRules:
    """Hooks the generic `Books` calls; the defaults suit a plain named list."""

    # Fields the server computes; a caller's values for them are ignored.
    read_only: frozenset[str] = frozenset()

    def seeds(self) -> list[dict[str, Any]]:
        return []

    def prepare(
        self, books: Books, candidate: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Validate a new version and fill in derived fields; raise QboError to refuse."""
        return candidate

    def after_write(
        self, books: Books, before: dict[str, Any] | None, after: dict[str, Any] | None
    ) -> None:
        """Propagate a stored change (after is None on delete)."""

    def before_delete(self, books: Books, current: dict[str, Any]) -> None:
        raise QboError(
            400,
            "500",
            "Unsupported Operation",
            "Operation Delete is not supported for this entity; make it inactive instead",
        )

    def voided(self, books: Books, obj: dict[str, Any]) -> dict[str, Any]:
        raise QboError(
            400, "500", "Unsupported Operation", "Operation Void is not supported for this entity"
        )


def resolve_ref(books: Books, entity: str, ref: object, element: str) -> dict[str, str]:
    """A `{"value", "name"}` reference to an existing, active object, with its name filled in."""
    if ref is None:
        raise required(element)
    if not isinstance(ref, dict) or ref.get("value") in (None, ""):
        raise invalid(f"{element} must be an object with a value", element)
    target = books.find(entity, ref["value"])
    if target is None or target.get("Active") is False:
        raise not_found(entity, ref["value"])
    name = target.get("DisplayName") or target.get("Name") or ""
    return {"value": target["Id"], "name": name}


def customer_in_its_currency(books: Books, candidate: dict[str, Any], what: str) -> dict[str, str]:
    """Resolve the candidate's CustomerRef and fill its CurrencyRef with the customer's currency; a
    transaction in another currency than its customer's is refused (QuickBooks Online's rule)."""
    customer = resolve_ref(books, "Customer", candidate.get("CustomerRef"), "CustomerRef")
    candidate["CustomerRef"] = customer
    currency = books.get("Customer", customer["value"])["CurrencyRef"]["value"]
    candidate["CurrencyRef"] = currency_ref(candidate.get("CurrencyRef"), currency)
    if candidate["CurrencyRef"]["value"] != currency:
        raise business_error(f"The {what} currency {candidate['CurrencyRef']['value']} differs from the "
                             f"customer's currency {currency}", "CurrencyRef")
    return customer


def currency_ref(ref: object, default: str = "USD") -> dict[str, str]:
    code = default
    if isinstance(ref, dict) and ref.get("value"):
        code = str(ref["value"]).upper()
    if code not in CURRENCY_NAMES:
        raise invalid(f"Unsupported currency {code}", "CurrencyRef")
    return {"value": code, "name": CURRENCY_NAMES[code]}


def unique_name(
    books: Books, entity: str, field: str, name: str, current: dict[str, Any] | None
) -> None:
    for other in books.objects[entity].values():
        same = str(other.get(field, "")).casefold() == name.casefold()
        if same and (current is None or other["Id"] != current["Id"]):
            raise QboError(
                400,
                "6240",
                "Duplicate Name Exists Error",
                f"The name supplied already exists. : Another {entity} is already using this "
                f"name ({name}), Id={other['Id']}. Please use a different name.",
                element=field,
            )


def text_field(candidate: dict[str, Any], field: str, max_length: int) -> None:
    value = candidate.get(field)
    if value is None:
        return
    if not isinstance(value, str) or len(value) > max_length:
        raise invalid(f"{field} must be a string of at most {max_length} characters", field)
