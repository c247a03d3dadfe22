"""The Integrations cards' forms: which fields each integration has, and how a form becomes a request."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    secret: bool = False
    required: bool = True
    kind: str = "text"
    hint: str = ""


@dataclass(frozen=True)
class IntegrationForm:
    name: str  # as in the sync API's path
    title: str
    fields: tuple[FormField, ...]

    def request_body(self, form: dict[str, str]) -> dict[str, Any]:
        """Blank optional fields and blank secrets are left out (a blank secret keeps the stored one)."""
        body: dict[str, Any] = {}
        for f in self.fields:
            value = form.get(f.name, "").strip()
            if not value and (f.secret or not f.required):
                continue
            body[f.name] = int(value) if f.kind == "number" and value.isdigit() else value
        return body


AUTOTASK = IntegrationForm("autotask", "Autotask", (
    FormField("username", "API Username", kind="email"),
    FormField("secret", "Secret", secret=True),
    FormField("integration_code", "Integration Code"),
    FormField("base_url", "API URL", required=False,
              hint="Leave blank to find your zone from the username, or give your zone's URL."),
    FormField("quote_url_field", "Custom Quote URL Mapping", required=False,
              hint="The opportunity user-defined field that holds the quote's URL."),
    FormField("sync_interval_minutes", "Sync every (minutes)", kind="number"),
))
QUICKBOOKS = IntegrationForm("quickbooks", "QuickBooks Online", (
    FormField("base_url", "API URL", required=False, hint="Leave blank for QuickBooks Online production."),
    FormField("realm_id", "Company ID (realm)"),
    FormField("client_id", "Client ID"),
    FormField("client_secret", "Client Secret", secret=True),
    FormField("refresh_token", "Refresh Token", secret=True),
))
FORMS = {f.name: f for f in (AUTOTASK, QUICKBOOKS)}


def fields_in_error(details: dict[str, Any]) -> set[str]:
    """The field names a service's error details point at, whatever shape they come in."""
    named: set[str] = set()
    for key in ("field", "fields"):
        value = details.get(key)
        if isinstance(value, str):
            named.add(value)
        elif isinstance(value, (list, dict)):
            named.update(str(v) for v in value)
    for error in details.get("errors", []) if isinstance(details.get("errors"), list) else []:
        if isinstance(error, dict) and error.get("field"):
            named.add(str(error["field"]).split(".")[0])
    return named
