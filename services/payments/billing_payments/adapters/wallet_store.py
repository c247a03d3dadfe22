"""Stored payment methods: vault ids, brand, last four and expiry only."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class WalletMethod:
    method_id: str
    organization_id: str
    contact_id: str | None
    vault_id: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None


def _method(row: asyncpg.Record) -> WalletMethod:
    return WalletMethod(str(row["method_id"]), row["organization_id"], row["contact_id"], row["vault_id"], row["type"],
                        row["brand"], row["last4"], row["exp_month"], row["exp_year"])


async def add(conn: asyncpg.Connection, m: WalletMethod) -> None:
    await conn.execute(
        """INSERT INTO wallet_methods (method_id, organization_id, contact_id, vault_id, type, brand, last4,
                                       exp_month, exp_year) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        uuid.UUID(m.method_id), m.organization_id, m.contact_id, m.vault_id, m.type, m.brand, m.last4,
        m.exp_month, m.exp_year,
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, method_id: str) -> WalletMethod | None:
    try:
        mid = uuid.UUID(method_id)
    except ValueError:
        return None
    row = await conn.fetchrow("SELECT * FROM wallet_methods WHERE method_id = $1 AND deleted_at IS NULL", mid)
    return _method(row) if row else None


async def list_for(conn: asyncpg.Pool, organization_id: str) -> list[WalletMethod]:
    rows = await conn.fetch("""SELECT * FROM wallet_methods WHERE organization_id = $1 AND deleted_at IS NULL
                               ORDER BY created_at, method_id""", organization_id)
    return [_method(r) for r in rows]


async def delete(conn: asyncpg.Connection | asyncpg.Pool, method_id: str) -> None:
    await conn.execute("UPDATE wallet_methods SET deleted_at = now() WHERE method_id = $1", uuid.UUID(method_id))
