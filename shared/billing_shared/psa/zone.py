"""Zone discovery: which Autotask web-services host serves a tenant.

`GET {base}v1.0/zoneInformation?user=<api user>` answers {zoneName, url,
webUrl, ci} [C: AT-OAS]; `url` ends in `/ATServicesRest/` and every data call
goes to `{url}V1.0/...` [C, the trailing slash inferred from AT-DJ].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import PsaError


def zone_lookup_base(base_url: str) -> str:
    """Where to ask zoneInformation, ending in `atservicesrest/`. Admins paste a host's root (the
    simulator's "http://127.0.0.1:9101", "https://webservices.autotask.net") as often as the
    documented ".../atservicesrest/" (any case, with or without the slash, even with "v1.0"): all
    mean the same place."""
    url = base_url.strip().split("?", 1)[0].split("#", 1)[0].rstrip("/")
    lowered = url.lower()
    if lowered.endswith("/v1.0"):
        url, lowered = url[: -len("/v1.0")], lowered[: -len("/v1.0")]
    if lowered.endswith("/atservicesrest"):
        return url + "/"
    return url + "/atservicesrest/"


@dataclass(frozen=True)
class Zone:
    name: str
    url: str
    web_url: str
    ci: int

    @property
    def api_base(self) -> str:
        return f"{self.url}V1.0/"

    @classmethod
    def from_json(cls, body: Any) -> "Zone":
        if not isinstance(body, dict) or not isinstance(body.get("url"), str) or not body["url"]:
            raise PsaError("Autotask zoneInformation answered without a zone url")
        url = body["url"] if body["url"].endswith("/") else body["url"] + "/"
        return cls(name=str(body.get("zoneName") or ""), url=url,
                   web_url=str(body.get("webUrl") or ""), ci=int(body.get("ci") or 0))
