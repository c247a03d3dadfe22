"""What a payment request reads before it records anything, in one round trip: its Idempotency-Key (if
already used), the invoice, the payer and the stored method. Each is as the separate adapters read it."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from billing_payments.adapters import idempotency_store, invoice_store
from billing_payments.adapters.idempotency_store import Held
from billing_payments.adapters.wallet_store import WalletMethod
from billing_payments.domain.invoices import PayableInvoice
from billing_payments.domain.rules import KnownContact

_INVOICE = invoice_store.columns("i")
# One statement text for every request (prepared once per connection): absent parts are NULL ids.
_SQL = f"""
SELECT k.scope IS NOT NULL AS k_found, k.request_hash AS k_request_hash, k.payment_id AS k_payment_id,
       k.response_status AS k_response_status, k.response_body AS k_response_body,
       (k.payment_id IS NULL AND k.response_status IS NULL
        AND k.claimed_at < now() - make_interval(secs => $6)) AS k_lapsed,
       i.invoice_id IS NOT NULL AS i_found, {_INVOICE},
       c.organization_id AS c_organization_id, c.active AS c_active,
       w.method_id AS w_method_id, w.organization_id AS w_organization_id, w.contact_id AS w_contact_id,
       w.vault_id AS w_vault_id, w.type AS w_type, w.brand AS w_brand, w.last4 AS w_last4,
       w.exp_month AS w_exp_month, w.exp_year AS w_exp_year
FROM (VALUES (1)) AS one (x)
LEFT JOIN idempotency_keys k ON k.scope = $1 AND k.key = $2
LEFT JOIN invoices i ON i.invoice_id = $3
LEFT JOIN contacts c ON c.contact_id = $4
LEFT JOIN wallet_methods w ON w.method_id = $5 AND w.deleted_at IS NULL
"""


@dataclass(frozen=True)
class PayReads:
    key: Held | None
    invoice: PayableInvoice | None
    contact: KnownContact | None
    method: WalletMethod | None  # the stored method asked for, when it exists (not yet checked for the organization)


async def read(conn: asyncpg.Pool | asyncpg.Connection, *, scope: str, key: str, invoice_id: str,
               contact_id: str | None, method_id: str | None, lease_seconds: float) -> PayReads:
    row = await conn.fetchrow(_SQL, scope, key, invoice_id, contact_id, _uuid(method_id), lease_seconds)
    assert row is not None  # the one-row driver always answers
    method = None
    if row["w_method_id"] is not None:
        method = WalletMethod(str(row["w_method_id"]), row["w_organization_id"], row["w_contact_id"],
                              row["w_vault_id"], row["w_type"], row["w_brand"], row["w_last4"], row["w_exp_month"],
                              row["w_exp_year"])
    return PayReads(
        key=idempotency_store.held_of(row, "k_") if row["k_found"] else None,
        invoice=invoice_store.to_invoice(row) if row["i_found"] else None,
        contact=KnownContact(contact_id, row["c_organization_id"], row["c_active"])  # type: ignore[arg-type]
        if row["c_organization_id"] is not None else None,
        method=method,
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
