"""transact.php replies: the URL-encoded name=value string NMI answers with."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

APPROVED, DECLINED, ERROR = 1, 2, 3


@dataclass(frozen=True)
class Reply:
    response: int
    responsetext: str
    response_code: int
    transactionid: str = ""
    orderid: str = ""
    type: str = ""
    authcode: str = ""
    customer_vault_id: str | None = None  # present on vault operations only
    drop: bool = False  # hold the connection, then close it without answering

    def encode(self) -> str:
        fields = [
            ("response", str(self.response)),
            ("responsetext", self.responsetext),
            ("authcode", self.authcode),
            ("transactionid", self.transactionid),
            ("avsresponse", ""),
            ("cvvresponse", ""),
            ("orderid", self.orderid),
            ("type", self.type),
            ("response_code", str(self.response_code)),
        ]
        if self.customer_vault_id is not None:
            fields.append(("customer_vault_id", self.customer_vault_id))
        return urlencode(fields)


def rejected(text: str, kind: str = "", orderid: str = "") -> Reply:
    """A response=3 / 300 error; the real gateway appends a reference id."""
    refid = secrets.randbelow(900_000_000) + 100_000_000
    return Reply(ERROR, f"{text} REFID:{refid}", 300, orderid=orderid, type=kind)


AUTH_FAILED = Reply(ERROR, "Authentication Failed", 300)


def key_matches(form: Mapping[str, str], expected: str) -> bool:
    given = form.get("security_key", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def new_authcode() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"
