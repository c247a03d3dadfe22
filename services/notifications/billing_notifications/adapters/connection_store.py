"""The stored PSA connection (one row), its secret sealed."""
from __future__ import annotations

import asyncpg

from billing_shared.secrets import SecretBox

from billing_notifications.domain.connection import PsaCredentials


async def load(db: asyncpg.Pool | asyncpg.Connection, box: SecretBox) -> PsaCredentials | None:
    row = await db.fetchrow("SELECT username, integration_code, base_url, secret_sealed FROM psa_connection")
    if row is None:
        return None
    return PsaCredentials(username=row["username"], secret=box.open(row["secret_sealed"]),
                          integration_code=row["integration_code"], base_url=row["base_url"])


async def save(db: asyncpg.Pool | asyncpg.Connection, box: SecretBox, credentials: PsaCredentials) -> None:
    await db.execute(
        """INSERT INTO psa_connection (singleton, username, integration_code, base_url, secret_sealed)
           VALUES (true, $1, $2, $3, $4)
           ON CONFLICT (singleton) DO UPDATE SET username = EXCLUDED.username,
               integration_code = EXCLUDED.integration_code, base_url = EXCLUDED.base_url,
               secret_sealed = EXCLUDED.secret_sealed, updated_at = now()""",
        credentials.username, credentials.integration_code, credentials.base_url, box.seal(credentials.secret))


async def delete(db: asyncpg.Pool | asyncpg.Connection) -> bool:
    return (await db.execute("DELETE FROM psa_connection")).split()[-1] != "0"
