"""Processing settings: one row; keys sealed with the service's SecretBox, opened only in memory."""
from __future__ import annotations

import asyncpg

from billing_shared.secrets import SecretBox

from billing_payments.domain.settings import ProcessingSettings


async def load(conn: asyncpg.Connection | asyncpg.Pool, box: SecretBox) -> ProcessingSettings:
    row = await conn.fetchrow("SELECT * FROM processing_settings WHERE id = 1")
    if row is None:
        return ProcessingSettings()
    return ProcessingSettings(
        active=row["active"], currency=row["currency"], accept_payments_in=tuple(row["accept_payments_in"]),
        payment_types={env: tuple(types) for env, types in row["payment_types"].items()},
        public_key=box.open(row["public_key"]) if row["public_key"] else None,
        private_key=box.open(row["private_key"]) if row["private_key"] else None,
        refund_via_gateway=row["refund_via_gateway"], auto_cancel_unsettled=row["auto_cancel_unsettled"],
    )


async def save(conn: asyncpg.Connection, s: ProcessingSettings, box: SecretBox) -> None:
    await conn.execute(
        """INSERT INTO processing_settings (id, active, currency, accept_payments_in, payment_types, public_key,
                                            private_key, refund_via_gateway, auto_cancel_unsettled, updated_at)
           VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, now())
           ON CONFLICT (id) DO UPDATE SET active = $1, currency = $2, accept_payments_in = $3, payment_types = $4,
               public_key = $5, private_key = $6, refund_via_gateway = $7, auto_cancel_unsettled = $8,
               updated_at = now()""",
        s.active, s.currency, list(s.accept_payments_in), {k: list(v) for k, v in s.payment_types.items()},
        box.seal(s.public_key) if s.public_key else None, box.seal(s.private_key) if s.private_key else None,
        s.refund_via_gateway, s.auto_cancel_unsettled,
    )


async def lock(conn: asyncpg.Connection) -> None:
    """Serialise settings changes (the currency can be set only once)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('processing_settings'))")
